"""The OpenAPI schema and the server say the same thing about each case where they once
disagreed (docs/ingest.md, "The OpenAPI schema and the server agree"); test_fuzz.py checks
both directions on generated requests."""

from __future__ import annotations

import pytest
from django.test import Client

from ingestion.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict:
    return Client().get("/api/schema/?format=json").json()


def _request(schema: dict, path: str) -> dict:
    return schema["paths"][path]["post"]["requestBody"]


def test_every_ingest_call_needs_its_body(schema):
    for path in ("/v1/track", "/v1/page", "/v1/batch"):
        assert _request(schema, path)["required"] is True


def test_the_schema_says_what_the_server_refuses(schema):
    track = _request(schema, "/v1/track")["content"]["application/json"]["schema"]
    event = track["properties"]["event"]
    assert "event" in track["required"]
    assert event["pattern"] == "\\S" and event["maxLength"] == 255
    assert "\\u0000-\\u001f" in event["not"]["pattern"]
    # One of the two ids, not blank.
    assert [option["required"] for option in track["anyOf"]] == [["userId"], ["anonymousId"]]
    group = _request(schema, "/v1/group")["content"]["application/json"]["schema"]
    assert group["properties"]["groupId"]["type"] == ["string", "number"]
    assert group["properties"]["traits"]["type"] == ["object", "null"]
    page = _request(schema, "/v1/page")["content"]["application/json"]["schema"]
    assert page["required"] == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("page", {"anonymousId": "a1"}),  # a page call with only an id
        ("screen", {"userId": "u1"}),
        ("group", {"userId": "u1", "groupId": 42}),
        ("identify", {"userId": "u1", "traits": None}),
        ("track", {"userId": "u1", "event": "E", "properties": None, "integrations": None}),
        ("alias", {"userId": 7, "previousId": 6.5}),
    ],
)
def test_what_the_schema_calls_valid_is_stored(ingest, path, message):
    response = ingest(path, message)
    assert response.status_code == 200, response.json()
    assert Event.objects.count() == 1


def test_a_numeric_group_id_is_stored_as_it_came(ingest):
    ingest("group", {"userId": "u1", "groupId": 42})
    assert Event.objects.get().extra["groupId"] == 42


@pytest.mark.parametrize(
    ("path", "message", "code"),
    [
        ("track", {"userId": "u1", "event": ""}, "missing_event"),
        ("track", {"userId": "u1", "event": "  "}, "missing_event"),
        ("group", {"userId": "u1", "groupId": ""}, "missing_group_id"),
        ("alias", {"userId": "u1", "previousId": " "}, "missing_previous_id"),
        ("track", {"userId": "u1\x07", "event": "E"}, "invalid_user_id"),
        ("track", {"userId": "u1", "event": "E", "integrations": "all"}, "invalid_integrations"),
        ("page", {"userId": "u1", "name": True}, "invalid_name"),
        # Measured and checked as sent, before trimming, as the schema's maxLength does.
        ("page", {"userId": "u1", "name": " " + "*" * 255}, "invalid_name"),
        ("track", {"userId": "u1\n", "event": "E"}, "invalid_user_id"),
        (
            "track",
            {"userId": "u1", "event": "E", "messageId": "m\x00" + "x" * 127},
            "invalid_message_id",
        ),
        (
            "track",
            {
                "userId": "u1",
                "event": "E",
                "originalTimestamp": "2026-01-01T00:00:00Z",
                "timestamp": "not a time",
            },
            "invalid_timestamp",
        ),
    ],
)
def test_what_the_schema_calls_invalid_is_refused(ingest, path, message, code):
    response = ingest(path, message)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"batch": [], "sentAt": "AAA"}, 400, "invalid_sent_at"),
        ({"batch": [{"type": "track", "userId": "u", "event": "E"}], "context": "x"}, 400,
         "invalid_context"),
        ({"batch": [{"type": "track", "userId": "u", "event": "E"}], "writeKey": 5}, 401,
         "invalid_write_key"),
    ],
)  # fmt: skip
def test_a_batch_whose_own_fields_are_invalid_is_refused(ingest, body, status, code):
    response = ingest("batch", body)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert Event.objects.count() == 0
