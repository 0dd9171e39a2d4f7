"""Hostile requests each get a clear error, a 400 for the request or a refusal per event in a
200, and leave the store as it was (the cases docs/ingest.md lists; the others, NUL, lone
surrogates, NaN, nesting, gzip bombs, are in test_api.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from campaigns.defaults import campaigns_setup
from campaigns.engine import campaigns_run_due
from campaigns.models import Campaign, Enrollment, Message
from ingestion.models import Event, MessageKey
from profiles.models import Profile
from tests.conftest import basic_auth, process_stored

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


# --- times past the calendar's ends ---------------------------------------------------------


def test_a_timestamp_whose_offset_passes_year_one_is_stored_by_the_out_of_range_rule(ingest):
    message = {"userId": "u", "event": "e", "timestamp": "0001-01-01T00:00:00+00:01"}
    response = ingest("track", message)
    assert response.status_code == 200 and response.json()["accepted"] == 1
    event = Event.objects.get()
    assert event.flags == ["timestamp_out_of_range"]
    assert event.timestamp == event.received_at
    # No column can hold it: its text is kept with the rest of the message.
    assert event.original_timestamp is None
    assert event.extra["timestamp"] == "0001-01-01T00:00:00+00:01"


def test_a_batch_sent_at_past_year_9999_keeps_every_event_of_the_batch(ingest):
    body = {
        "sentAt": "9999-12-31T23:59:59-01:00",
        "batch": [{"type": "track", "userId": "u", "event": "e"}, {**OK, "userId": "u2"}],
    }
    response = ingest("batch", body)
    assert response.status_code == 200
    assert response.json() == {"success": True, "accepted": 2, "duplicates": 0, "refused": []}
    for event in Event.objects.all():
        assert event.flags == ["timestamp_out_of_range"]
        assert event.timestamp == event.received_at and event.sent_at is None
        assert event.extra["sentAt"] == "9999-12-31T23:59:59-01:00"


@pytest.mark.parametrize(
    "times",
    [
        {"originalTimestamp": "9999-12-31T23:59:59-01:00"},
        {"sentAt": "0001-01-01T00:00:00+14:00", "timestamp": "2026-01-01T00:00:00Z"},
        {"timestamp": 10**30},  # epoch milliseconds
        {"timestamp": -(10**30)},
        {"timestamp": "+275760-09-13T00:00:00Z"},  # an ISO-8601 expanded year
        {"timestamp": "0000-06-01T00:00:00Z"},
        {"timestamp": "9999-12-31T23:59:60+00:00"},  # a leap second past the last one
        {"timestamp": "0001-01-01T00:00:00Z"},  # within a day of the end: no zone shows it
        {"timestamp": "9999-12-31T12:00:00Z"},
    ],
)
def test_a_time_off_the_calendar_is_stored_by_the_out_of_range_rule_beside_its_neighbours(
    ingest, times
):
    response = ingest("batch", {"batch": [{**OK, **times}, {**OK, "userId": "u2"}]})
    assert response.status_code == 200
    assert response.json()["accepted"] == 2 and response.json()["refused"] == []
    bad = Event.objects.get(user_id="u1")
    assert bad.flags == ["timestamp_out_of_range"]
    assert bad.timestamp == bad.received_at
    assert Event.objects.get(user_id="u2").flags == []


def test_a_leap_second_is_the_first_instant_of_the_next_minute(ingest):
    message = {**OK, "timestamp": "2026-06-30T23:59:60.5Z"}
    with time_machine.travel(datetime(2026, 7, 1, 12, tzinfo=UTC), tick=False):
        response = ingest("batch", {"batch": [message]})
    assert response.json()["accepted"] == 1
    event = Event.objects.get()
    assert event.timestamp == datetime(2026, 7, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert event.flags == []


def test_an_offset_that_is_no_offset_refuses_its_event_only(ingest):
    message = {**OK, "timestamp": "2026-01-01T00:00:00+24:00"}
    response = ingest("batch", {"batch": [message, {**OK, "userId": "u2"}]})
    assert [r["code"] for r in response.json()["refused"]] == ["invalid_timestamp"]
    assert list(Event.objects.values_list("user_id", flat=True)) == ["u2"]


# --- message ids, names, headers ------------------------------------------------------------


def test_blank_message_ids_are_absent_and_each_event_is_stored(ingest):
    batch = [{**OK, "messageId": "   "}, {**OK, "messageId": " \t "}, {**OK, "messageId": ""}]
    response = ingest("batch", {"batch": batch})
    assert response.json() == {"success": True, "accepted": 3, "duplicates": 0, "refused": []}
    ids = set(Event.objects.values_list("message_id", flat=True))
    assert len(ids) == 3 and all(len(i) == 36 for i in ids)  # generated UUIDs
    # And again: a blank id is never a key a later request collides with.
    assert ingest("batch", {"batch": batch}).json()["accepted"] == 3


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({**OK, "event": "Order\x00Completed"}, "invalid_name"),
        ({"type": "page", "name": "Ho\x00me", "userId": "u1"}, "invalid_name"),
        ({**OK, "userId": "u\x001"}, "invalid_user_id"),
        ({"type": "group", "userId": "u1", "groupId": "g\x00"}, "invalid_group_id"),
    ],
)
def test_a_nul_in_a_name_or_an_id_refuses_the_event(ingest, message, code):
    response = ingest("batch", {"batch": [message, {**OK, "userId": "u2"}]})
    [refused] = response.json()["refused"]
    assert refused["index"] == 0 and refused["code"] == code
    assert "U+0000" in refused["message"]
    assert list(Event.objects.values_list("user_id", flat=True)) == ["u2"]


def test_a_nul_elsewhere_is_still_removed_and_flagged(ingest):
    message = {**OK, "properties": {"note": "a\x00b"}}
    assert ingest("batch", {"batch": [message]}).json()["accepted"] == 1
    event = Event.objects.get()
    assert event.properties == {"note": "ab"} and event.flags == ["nul_removed"]


def test_an_authorization_header_that_is_not_ascii_gets_401(client):
    response = client.post(
        "/v1/batch",
        data=b'{"batch": []}',
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic \xe9\xe9",
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_authorization"


def test_a_content_length_that_is_not_a_number_gets_400(client, write_key):
    response = client.post(
        "/v1/batch",
        data=b'{"batch": []}',
        content_type="application/json",
        HTTP_AUTHORIZATION=basic_auth(write_key.key),
        CONTENT_LENGTH="abc",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_content_length"


def test_an_alias_whose_previous_id_is_a_user_id_and_an_anonymous_id_merges_them_once(ingest):
    # Found by the schema fuzzer: both profiles were merged twice, the second time a
    # profile the first merge had deleted, and the request answered 500.
    ingest("batch", {"batch": [{"type": "identify", "userId": "x"}]})
    ingest("batch", {"batch": [{"type": "identify", "anonymousId": "x"}]})
    assert Profile.objects.count() == 2
    alias = {"type": "alias", "anonymousId": "x", "previousId": "x"}
    response = ingest("batch", {"batch": [alias]})
    assert response.status_code == 200 and response.json()["accepted"] == 1
    profile = Profile.objects.get()
    assert profile.user_id == "x"
    assert set(Event.objects.values_list("profile_id", flat=True)) == {profile.pk}
