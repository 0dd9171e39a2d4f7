"""Hostile requests each get a clear error, a 400 for the request or a refusal per event in a
200, and leave the store as it was (the cases docs/ingest.md lists; the others, NUL, lone
surrogates, NaN, nesting, gzip bombs, are in test_api.py)."""

from __future__ import annotations

import pytest

from campaigns.defaults import campaigns_setup
from campaigns.engine import campaigns_run_due
from campaigns.models import Campaign, Enrollment, Message
from ingestion.models import Event, MessageKey
from profiles.models import Profile
from tests.conftest import process_stored

pytestmark = pytest.mark.django_db

OK = {"type": "track", "event": "Signed Up", "userId": "u1"}


def stored() -> tuple[int, int, int]:
    return Event.objects.count(), MessageKey.objects.count(), Profile.objects.count()


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"event=Signed+Up&userId=u1", "application/x-www-form-urlencoded"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"<batch><event>Signed Up</event></batch>", "application/xml"),
        (b"", "application/json"),
    ],
)
def test_a_body_that_is_not_json_gets_400_whatever_its_content_type(ingest, raw, content_type):
    response = ingest("batch", None, raw=raw, content_type=content_type)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_json" and body["message"]
    assert stored() == (0, 0, 0)


def test_ten_thousand_properties_refuse_only_their_event(ingest):
    big = {**OK, "event": "Wide", "properties": {f"p{n}": n for n in range(10_000)}}
    response = ingest("batch", {"batch": [big, OK]})
    assert response.status_code == 200
    assert response.json()["refused"] == [
        {
            "index": 0,
            "code": "event_too_large",
            "message": "The event is 124 KB; the limit is 32 KB.",
        }
    ]
    assert list(Event.objects.values_list("name", flat=True)) == ["Signed Up"]


def test_an_array_of_a_hundred_thousand_items_refuses_the_request(ingest):
    long = {**OK, "event": "Long", "properties": {"items": list(range(100_000))}}
    response = ingest("batch", {"batch": [long, OK]})
    assert response.status_code == 400
    assert response.json()["code"] == "request_too_large"
    assert stored() == (0, 0, 0)


@pytest.mark.parametrize(
    ("message", "code", "character"),
    [
        ({**OK, "event": "Order\x07Completed"}, "invalid_name", "U+0007"),
        ({**OK, "event": "Order\nCompleted"}, "invalid_name", "U+000A"),
        ({**OK, "event": "Order Completed\u202e"}, "invalid_name", "U+202E"),
        ({"type": "page", "name": "Home\u200b", "userId": "u1"}, "invalid_name", "U+200B"),
        ({**OK, "userId": "u1\x1b[31m"}, "invalid_user_id", "U+001B"),
        ({**OK, "userId": None, "anonymousId": "a\x85b"}, "invalid_anonymous_id", "U+0085"),
        (
            {"type": "alias", "userId": "u1", "previousId": "ol\x7fd"},
            "invalid_previous_id",
            "U+007F",
        ),
    ],
)
def test_names_and_ids_with_control_characters_are_refused_per_event(
    ingest, message, code, character
):
    response = ingest("batch", {"batch": [message, {**OK, "userId": "u2"}]})
    assert response.status_code == 200
    [refused] = response.json()["refused"]
    assert refused["index"] == 0 and refused["code"] == code
    assert character in refused["message"]
    assert list(Event.objects.values_list("user_id", flat=True)) == ["u2"]


def test_the_same_batch_posted_five_times_is_stored_and_confirmed_once(ingest):
    campaigns_setup()
    Campaign.objects.filter(kind=Campaign.Kind.ORDER_CONFIRMATION).update(
        status=Campaign.Status.ACTIVE
    )
    batch = {
        "batch": [
            {
                "type": "identify",
                "userId": "u1",
                "traits": {"email": "u1@example.com"},
                "messageId": "m-identify",
            },
            {
                "type": "track",
                "event": "Order Completed",
                "userId": "u1",
                "messageId": "m-order",
                "properties": {"order_id": "O-1", "total": 10},
            },
        ]
    }
    answers = []
    for _ in range(5):
        response = ingest("batch", batch)
        answers.append((response.json()["accepted"], response.json()["duplicates"]))
        process_stored()
        campaigns_run_due()
    assert answers == [(2, 0)] + [(0, 2)] * 4
    assert Event.objects.count() == 2
    assert Enrollment.objects.count() == 1
    assert Message.objects.filter(status=Message.Status.SENT).count() == 1


def test_a_batch_context_is_cleaned_like_an_event(ingest):
    context = {"app": {"na\x00me": "sh\x00op", "build": "\ud800x"}}
    response = ingest("batch", {"batch": [OK], "context": context})
    assert response.status_code == 200 and response.json()["accepted"] == 1
    assert Event.objects.get().context["app"] == {"name": "shop", "build": "\ufffdx"}


def test_a_batch_context_nested_too_deep_refuses_the_request(ingest):
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["a"] = {}
        node = node["a"]
    response = ingest("batch", {"batch": [OK], "context": deep})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_context"
    assert stored() == (0, 0, 0)
