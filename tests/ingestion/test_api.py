"""The Segment-compatible ingest API: endpoints, auth, bodies, limits, hostile values."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.decoding import NON_FINITE, TOO_DEEP_MARKER
from ingestion.models import Event, Refusal, Source

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def track(**fields):
    return {"userId": "user-1", "event": "Product Viewed", **fields}


# --- endpoints ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "name"),
    [
        (
            "track",
            {"userId": "u", "event": "Order Completed", "properties": {"total": 5}},
            "Order Completed",
        ),
        ("identify", {"userId": "u", "traits": {"email": "a@b.c"}}, ""),
        ("page", {"anonymousId": "a", "name": "Home", "properties": {"url": "/"}}, "Home"),
        ("screen", {"anonymousId": "a", "name": "Cart"}, "Cart"),
        ("group", {"userId": "u", "groupId": "acme", "traits": {"plan": "pro"}}, ""),
        ("alias", {"userId": "u", "previousId": "a"}, ""),
    ],
)
def test_each_endpoint_stores_its_message_type(ingest, source, path, body, name):
    response = ingest(path, body)

    assert response.status_code == 200, response.content
    assert response.json() == {"success": True, "accepted": 1, "duplicates": 0, "refused": []}
    event = Event.objects.get()
    assert (event.source, event.type, event.name) == (source, path, name)


def test_batch_stores_every_message_with_its_fields(ingest):
    response = ingest(
        "batch",
        {
            "batch": [
                {"type": "track", **track(messageId="m1", properties={"sku": "S1", "price": 9.5})},
                {"type": "identify", "userId": "user-1", "traits": {"email": "ada@example.com"}},
                {"type": "page", "anonymousId": "anon-1", "name": "Shoes", "category": "Shop"},
            ]
        },
    )

    assert response.status_code == 200
    assert response.json()["accepted"] == 3
    tracked = Event.objects.get(message_id="m1")
    assert tracked.properties == {"sku": "S1", "price": 9.5}
    assert tracked.user_id == "user-1"
    assert Event.objects.get(type="identify").traits == {"email": "ada@example.com"}
    page = Event.objects.get(type="page")
    assert (page.anonymous_id, page.name, page.extra) == ("anon-1", "Shoes", {"category": "Shop"})


def test_trailing_slash_is_accepted(client, write_key):
    from tests.conftest import basic_auth

    response = client.post(
        "/v1/track/",
        data=json.dumps(track()),
        content_type="application/json",
        headers={"Authorization": basic_auth(write_key.key)},
    )
    assert response.status_code == 200


def test_batch_with_no_valid_message_still_answers_json(ingest):
    response = ingest("batch", {"batch": []})
    assert response.status_code == 200
    assert response.json()["accepted"] == 0


# --- authentication -----------------------------------------------------------------------


def test_write_key_in_the_body_authenticates(ingest, source):
    response = ingest("track", track(), auth="body")
    assert response.status_code == 200
    assert Event.objects.get().source == source


def test_write_key_in_the_body_of_a_batch_authenticates(ingest):
    response = ingest("batch", {"batch": [{"type": "track", **track()}]}, auth="body")
    assert response.status_code == 200
    assert Event.objects.count() == 1


@pytest.mark.parametrize("auth", ["basic", "body"])
def test_unknown_key_gets_401_with_code_and_message(ingest, auth):
    response = ingest("track", track(), key="nope", auth=auth)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_write_key"
    assert "message" in response.json()
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("key", "auth"),
    [("ab\x00c", "basic"), ("ab\x00c", "body"), ("\ud800", "body"), ("k" * 65, "basic")],
)
def test_a_key_postgres_cannot_hold_gets_401_not_a_server_error(ingest, key, auth):
    response = ingest("track", track(), key=key, auth=auth)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_write_key"
    assert not Event.objects.exists()


def test_missing_key_gets_401(ingest):
    response = ingest("track", track(), auth="none")
    assert response.status_code == 401


def test_malformed_authorization_gets_401(ingest):
    response = ingest("track", track(), auth="none", headers={"Authorization": "Basic %%%"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_authorization"


def test_disabled_source_gets_401(ingest, source):
    source.enabled = False
    source.save()
    assert ingest("track", track()).status_code == 401


def test_key_rotation_keeps_both_keys_working_until_the_old_is_revoked(ingest, source, write_key):
    new_key = services.write_key_create(actor=Actor.system("test"), source=source, label="2026")

    assert ingest("track", track(messageId="1"), key=write_key.key).status_code == 200
    assert ingest("track", track(messageId="2"), key=new_key.key).status_code == 200

    services.write_key_revoke(actor=Actor.system("test"), write_key=write_key)

    assert ingest("track", track(messageId="3"), key=write_key.key).status_code == 401
    assert ingest("track", track(messageId="4"), key=new_key.key).status_code == 200
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["1", "2", "4"]


# --- bodies: gzip and content types -------------------------------------------------------


def test_gzip_body_is_decompressed(ingest):
    response = ingest("batch", {"batch": [{"type": "track", **track()}]}, compress=True)
    assert response.status_code == 200
    assert Event.objects.get().name == "Product Viewed"


def test_invalid_gzip_is_refused_with_a_clear_error(ingest):
    response = ingest("track", None, raw=b"not gzip at all", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_encoding"


def test_unknown_content_encoding_is_refused(ingest):
    response = ingest("track", track(), headers={"Content-Encoding": "br"})
    assert response.status_code == 400
    assert response.json()["code"] == "unsupported_encoding"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", ""],
)
def test_json_is_accepted_whatever_the_content_type(ingest, content_type):
    response = ingest("track", track(), content_type=content_type)
    assert response.status_code == 200
    assert Event.objects.count() == 1


def test_invalid_json_gets_400_and_is_recorded_for_the_debugger(ingest, source):
    response = ingest("track", None, raw=b'{"userId": "u", "event": ')
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_json"
    assert "line 1" in body["message"]
    refusal = Refusal.objects.get()
    assert (refusal.source, refusal.code, refusal.index) == (source, "invalid_json", None)


def test_body_that_is_not_an_object_gets_400(ingest):
    response = ingest("batch", [1, 2, 3])
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_body"


def test_batch_without_a_batch_array_gets_400(ingest):
    response = ingest("batch", {"batch": {"type": "track"}})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_batch"


# --- CORS ---------------------------------------------------------------------------------


def test_preflight_is_answered(client):
    response = client.options(
        "/v1/batch",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Allow-Headers"] == "content-type,authorization"


def test_request_from_a_browser_gets_the_allow_origin_header(ingest):
    response = ingest("track", track(), headers={"Origin": "https://shop.example"})
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://shop.example"


def test_source_restricted_to_origins_refuses_others(ingest, source):
    source.allowed_origins = ["https://shop.example"]
    source.save()

    allowed = ingest("track", track(messageId="a"), headers={"Origin": "https://shop.example"})
    refused = ingest("track", track(messageId="b"), headers={"Origin": "https://evil.example"})

    assert allowed.status_code == 200
    assert refused.status_code == 403
    assert refused.json()["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in refused
    assert list(Event.objects.values_list("message_id", flat=True)) == ["a"]
    assert Refusal.objects.get().code == "origin_not_allowed"


def test_server_calls_without_origin_pass_a_restricted_source(ingest, source):
    source.allowed_origins = ["https://shop.example"]
    source.save()
    assert ingest("track", track()).status_code == 200


# --- limits -------------------------------------------------------------------------------


def test_event_over_32_kb_is_refused_and_the_others_stored(ingest):
    response = ingest(
        "batch",
        {
            "batch": [
                {"type": "track", **track(messageId="ok")},
                {"type": "track", **track(messageId="big", properties={"blob": "x" * 33_000})},
            ]
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    assert body["refused"] == [
        {
            "index": 1,
            "code": "event_too_large",
            "message": "The event is 32 KB; the limit is 32 KB.",
            "messageId": "big",
        }
    ]
    assert list(Event.objects.values_list("message_id", flat=True)) == ["ok"]


def test_request_over_500_kb_gets_400(ingest):
    batch = [{"type": "track", **track(properties={"blob": "x" * 20_000})} for _ in range(30)]
    response = ingest("batch", {"batch": batch})
    assert response.status_code == 400
    assert response.json()["code"] == "request_too_large"
    assert not Event.objects.exists()


def test_gzip_bomb_is_refused_by_its_decompressed_size(ingest):
    bomb = gzip.compress(b'{"batch": ["' + b"0" * 50_000_000 + b'"]}')
    assert len(bomb) < 100_000
    response = ingest("batch", None, raw=bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert response.json()["code"] == "request_too_large"


def test_more_than_2500_events_gets_400(ingest):
    batch = [{"type": "track", "userId": "u", "event": "E"} for _ in range(2501)]
    response = ingest("batch", {"batch": batch})
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_events"


def test_2500_events_are_accepted(ingest):
    batch = [{"type": "track", "userId": "u", "event": "E"} for _ in range(2500)]
    response = ingest("batch", {"batch": batch})
    assert response.status_code == 200
    assert Event.objects.count() == 2500


# --- partial batches ----------------------------------------------------------------------


def test_partial_batch_stores_the_valid_events_and_lists_the_refused_by_index(ingest, source):
    response = ingest(
        "batch",
        {
            "batch": [
                {"type": "track", **track(messageId="good-1")},
                {"type": "track", "event": "No One"},
                "not an object",
                {"type": "launch", "userId": "u"},
                {"type": "track", "userId": "u"},
                {"type": "track", **track(messageId="good-2", timestamp="yesterday")},
                {"type": "alias", "userId": "u"},
                {"type": "track", **track(messageId="good-3")},
            ]
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["code"]) for r in body["refused"]] == [
        (1, "missing_identity"),
        (2, "invalid_event"),
        (3, "invalid_type"),
        (4, "missing_event"),
        (5, "invalid_timestamp"),
        (6, "missing_previous_id"),
    ]
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["good-1", "good-3"]
    assert Refusal.objects.filter(source=source).count() == 6


def test_single_message_endpoint_refuses_an_invalid_message_with_400(ingest):
    response = ingest("track", {"userId": "u"})
    assert response.status_code == 400
    assert response.json()["code"] == "missing_event"


def test_numeric_user_id_is_kept_as_text(ingest):
    ingest("track", {"userId": 42, "event": "E"})
    assert Event.objects.get().user_id == "42"


# --- hostile values -----------------------------------------------------------------------


def _nested(depth: int) -> dict:
    value: dict = {"leaf": True}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def test_nesting_deeper_than_the_bound_refuses_only_that_event(ingest):
    response = ingest(
        "batch",
        {
            "batch": [
                {"type": "track", **track(messageId="deep", properties=_nested(40))},
                {"type": "track", **track(messageId="fine", properties=_nested(20))},
            ]
        },
    )
    assert response.status_code == 200
    assert [(r["index"], r["code"]) for r in response.json()["refused"]] == [(0, "too_deep")]
    assert list(Event.objects.values_list("message_id", flat=True)) == ["fine"]


def test_nesting_past_the_json_parser_recursion_limit_refuses_only_that_event(ingest):
    deep = '{"n":' * 50_000 + "1" + "}" * 50_000
    raw = (
        '{"batch": [{"type": "track", "userId": "u", "event": "E", "messageId": "deep", '
        f'"properties": {deep}}}, '
        '{"type": "track", "userId": "u", "event": "E", "messageId": "fine"}]}'
    ).encode()
    response = ingest("batch", None, raw=raw)
    assert response.status_code == 200
    assert [(r["index"], r["code"]) for r in response.json()["refused"]] == [(0, "too_deep")]
    assert list(Event.objects.values_list("message_id", flat=True)) == ["fine"]


def test_nul_characters_are_removed_from_values_and_keys(ingest):
    # (In a name or an id, a NUL refuses the event instead: test_hostile_input.py.)
    raw = b'{"userId": "u", "event": "E", "properties": {"na\\u0000me": "a\\u0000b"}}'
    response = ingest("track", None, raw=raw)
    assert response.status_code == 200
    event = Event.objects.get()
    assert event.properties == {"name": "ab"}
    assert "nul_removed" in event.flags


def test_lone_surrogates_are_replaced(ingest):
    raw = b'{"userId": "u", "event": "E", "properties": {"s": "a\\ud800b", "ok": "\\ud83d\\ude00"}}'
    response = ingest("track", None, raw=raw)
    assert response.status_code == 200
    event = Event.objects.get()
    assert event.properties == {"s": "a\ufffdb", "ok": "\U0001f600"}
    assert event.flags == ["lone_surrogate_replaced"]


def test_nan_infinity_and_overflowing_numbers_become_null(ingest):
    raw = (
        b'{"userId": "u", "event": "E", "properties": {"a": NaN, "b": Infinity, '
        b'"c": -Infinity, "d": 1e999, "e": 1' + b"0" * 5000 + b', "f": 1.5, "g": 12}}'
    )
    response = ingest("track", None, raw=raw)
    assert response.status_code == 200
    event = Event.objects.get()
    assert event.properties == {
        "a": None,
        "b": None,
        "c": None,
        "d": None,
        "e": None,
        "f": 1.5,
        "g": 12,
    }
    assert event.flags == ["non_finite_number_nulled"]


def test_integers_past_64_bits_keep_every_digit_and_a_byte_order_mark_is_read(ingest):
    raw = (
        b'\xef\xbb\xbf{"userId": "u", "event": "E", "properties": {"order": '
        b'123456789012345678901234567890, "small": 9223372036854775807, "price": 0.1}}'
    )
    response = ingest("track", None, raw=raw)
    assert response.status_code == 200
    assert Event.objects.get().properties == {
        "order": 123456789012345678901234567890,
        "small": 9223372036854775807,
        "price": 0.1,
    }


def test_huge_string_refuses_only_its_event(ingest):
    response = ingest(
        "batch",
        {
            "batch": [
                {"type": "track", **track(properties={"s": "é" * 20_000})},
                {"type": "track", **track(messageId="ok")},
            ]
        },
    )
    assert [r["code"] for r in response.json()["refused"]] == ["event_too_large"]
    assert Event.objects.count() == 1


def test_invalid_utf8_gets_400(ingest):
    response = ingest("track", None, raw=b'{"userId": "\xff\xfe", "event": "E"}')
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


def test_wrong_field_types_are_refused_per_event(ingest):
    response = ingest(
        "batch",
        {
            "batch": [
                {"type": "track", **track(properties=[1, 2])},
                {"type": "track", **track(), "userId": {"id": 1}},
                {"type": "identify", "userId": "u", "traits": "vip"},
                {"type": "track", **track(), "messageId": True},
            ]
        },
    )
    assert [r["code"] for r in response.json()["refused"]] == [
        "invalid_properties",
        "invalid_user_id",
        "invalid_traits",
        "invalid_message_id",
    ]


# --- de-duplication -----------------------------------------------------------------------


def test_retried_message_id_is_stored_once_and_the_retry_succeeds(ingest):
    first = ingest("track", track(messageId="m-1"))
    retry = ingest("track", track(messageId="m-1"))

    assert first.json()["accepted"] == 1
    assert retry.status_code == 200
    assert retry.json() == {"success": True, "accepted": 0, "duplicates": 1, "refused": []}
    assert Event.objects.count() == 1


def test_the_same_message_id_twice_in_one_batch_is_stored_once(ingest):
    response = ingest(
        "batch",
        {
            "batch": [
                {"type": "track", **track(messageId="m")},
                {"type": "track", **track(messageId="m")},
            ]
        },
    )
    assert response.json()["accepted"] == 1
    assert response.json()["duplicates"] == 1


def test_the_same_message_id_from_two_sources_is_two_events(ingest):
    other = services.source_create(actor=Actor.system("test"), name="App", kind=Source.Kind.MOBILE)
    ingest("track", track(messageId="m"))
    ingest("track", track(messageId="m"), key=other.write_keys.get().key)
    assert Event.objects.count() == 2


def test_message_id_is_generated_when_absent(ingest):
    ingest("batch", {"batch": [{"type": "track", **track()}, {"type": "track", **track()}]})
    ids = list(Event.objects.values_list("message_id", flat=True))
    assert len(set(ids)) == 2
    assert all(len(i) == 36 for i in ids)


# --- time ---------------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_clock_skew_is_corrected_with_the_batch_sent_at(ingest):
    # The device clock is 2 hours fast: it says the event happened 30 s before sending.
    device_event_time = NOW + timedelta(hours=2) - timedelta(seconds=30)
    device_sent_at = NOW + timedelta(hours=2)
    ingest(
        "batch",
        {
            "sentAt": device_sent_at.isoformat(),
            "batch": [{"type": "track", **track(originalTimestamp=device_event_time.isoformat())}],
        },
    )
    event = Event.objects.get()
    assert event.timestamp == NOW - timedelta(seconds=30)
    assert event.original_timestamp == device_event_time
    assert event.sent_at == device_sent_at
    assert event.received_at == NOW
    assert event.flags == []


@time_machine.travel(NOW, tick=False)
def test_clock_skew_is_corrected_with_a_per_event_sent_at(ingest):
    ingest(
        "track",
        track(
            timestamp="2026-11-25T10:00:00Z",  # device clock 2 h slow
            sentAt="2026-11-25T10:00:05Z",
        ),
    )
    assert Event.objects.get().timestamp == NOW - timedelta(seconds=5)


@time_machine.travel(NOW, tick=False)
def test_client_time_without_sent_at_is_kept(ingest):
    ingest("track", track(timestamp="2026-11-24T08:00:00+01:00"))
    assert Event.objects.get().timestamp == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("sent", "microsecond"),
    [
        ("2026-11-25T11:00:00.123456789Z", 123456),  # Go: RFC 3339 with nanoseconds
        ("2026-11-25T12:00:00.123+01:00", 123000),  # Java: with an offset
        ("2026-11-25T11:00:00.123", 123000),  # naive means UTC
        (1795604400123, 123000),  # epoch milliseconds
    ],
)
def test_sdk_time_formats_are_understood(ingest, sent, microsecond):
    ingest("track", track(timestamp=sent))
    assert Event.objects.get().timestamp == datetime(2026, 11, 25, 11, 0, 0, microsecond, UTC)


@time_machine.travel(NOW, tick=False)
def test_a_skew_past_the_calendar_is_out_of_range_not_an_error(ingest):
    event = {"type": "track", "event": "E", "userId": "u",
             "timestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T00:00:00Z"}  # fmt: skip
    response = ingest("batch", {"batch": [event]})
    assert response.status_code == 200 and response.json()["accepted"] == 1
    stored = Event.objects.get()
    assert stored.flags == ["timestamp_out_of_range"]
    assert stored.timestamp == stored.received_at


@time_machine.travel(NOW, tick=False)
def test_event_without_any_time_gets_the_received_time(ingest):
    ingest("track", track())
    assert Event.objects.get().timestamp == NOW


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("when", ["2026-11-25T13:00:00Z", "1999-01-01T00:00:00Z"])
def test_event_dated_out_of_range_is_stored_with_the_received_time_and_a_flag(ingest, when):
    ingest("track", track(timestamp=when))
    event = Event.objects.get()
    assert event.timestamp == NOW
    assert event.original_timestamp == datetime.fromisoformat(when)
    assert event.flags == ["timestamp_out_of_range"]


# --- context ------------------------------------------------------------------------------


def test_context_ip_is_filled_from_the_request(ingest):
    ingest("track", track(), headers={"X-Forwarded-For": "203.0.113.9"})
    # The test client's REMOTE_ADDR (127.0.0.1) is a trusted proxy by default.
    assert Event.objects.get().context["ip"] == "203.0.113.9"


def test_context_ip_sent_by_the_client_is_kept(ingest):
    ingest("track", track(context={"ip": "198.51.100.1"}))
    assert Event.objects.get().context["ip"] == "198.51.100.1"


def test_forwarded_for_from_an_untrusted_peer_is_ignored(ingest, settings):
    settings.INGEST_TRUSTED_PROXIES = ["10.0.0.1"]
    ingest("track", track(), headers={"X-Forwarded-For": "203.0.113.9"})
    assert Event.objects.get().context["ip"] == "127.0.0.1"


def test_batch_level_context_is_merged_into_each_event(ingest):
    ingest(
        "batch",
        {
            "context": {"library": {"name": "analytics-go", "version": "3"}, "app": "x"},
            "batch": [{"type": "track", **track(context={"app": "y"})}],
        },
    )
    context = Event.objects.get().context
    assert context["library"] == {"name": "analytics-go", "version": "3"}
    assert context["app"] == "y"


def test_identify_traits_in_context_are_kept_as_traits(ingest):
    ingest(
        "identify",
        {
            "userId": "u",
            "context": {"traits": {"email": "a@b.c", "plan": "free"}},
            "traits": {"plan": "pro"},
        },
    )
    assert Event.objects.get().traits == {"email": "a@b.c", "plan": "pro"}


# --- the hot path and failures ------------------------------------------------------------


def test_a_batch_costs_the_same_few_queries_whatever_its_size(
    ingest, django_assert_max_num_queries
):
    batch = [{"type": "track", **track(properties={"i": i})} for i in range(100)]
    batch.append({"type": "track", "event": "no identity"})
    # key lookup, the key's rate-limit count, blocked activities, suppressed ids, savepoint,
    # message keys, identities, events, refusals, release; a new person adds a lock, a second
    # read, the profile and its ids. The suppressed-ids check is skipped while no id is
    # suppressed and a process asked in the last PROFILE_SUPPRESSION_RECHECK_SECONDS: counted
    # here as the worst case (it runs when this test runs first in its process).
    with django_assert_max_num_queries(14):
        response = ingest("batch", {"batch": batch})
    assert response.json()["accepted"] == 100
    # The same person again, in a batch five times larger: no lock, no writes but the events
    # (and the suppressed-ids check, asked a moment ago, skipped).
    batch = [{"type": "track", **track(properties={"i": i})} for i in range(500)]
    with django_assert_max_num_queries(8):
        response = ingest("batch", {"batch": batch})
    assert response.json()["accepted"] == 500


@pytest.mark.parametrize("path", ["b", "import", "batch/"])
def test_mobile_sdk_batch_paths_are_accepted(ingest, path):
    # analytics-kotlin: gzip, text/plain, the write key in the body, no Authorization header.
    response = ingest(
        path,
        {"batch": [{"type": "screen", "anonymousId": "device-1", "name": "Home"}]},
        auth="body",
        compress=True,
        content_type="text/plain",
    )
    assert response.status_code == 200
    assert Event.objects.get().type == "screen"


def test_a_flood_of_refusals_is_answered_in_full_but_recorded_in_part(ingest):
    response = ingest("batch", {"batch": [{"type": "track", "event": "E"}] * 300})
    assert len(response.json()["refused"]) == 300
    assert Refusal.objects.count() == 100


@pytest.mark.parametrize(
    "message",
    [
        {"userId": "u", "event": "E", "properties": {"k": "a\x00b"}},
        {"userId": "u", "event": "E", "properties": {"a\x00": 1}},
        {"userId": "u", "event": "E", "properties": {"k": "\ud800"}},
        {"userId": "u", "event": "E", "properties": {"k": NON_FINITE}},
        {"userId": "u", "event": "E", "properties": {"k": TOO_DEEP_MARKER}},
        {"userId": "u", "event": "E", "properties": _nested(32)},  # 33 levels with the event
    ],
)
def test_a_message_with_anything_to_clean_takes_the_full_walk(message):
    from ingestion.messages import _clean_fast

    assert _clean_fast(message, 32) == (None, 0)


def test_a_clean_message_is_taken_as_it_is_up_to_the_depth_bound():
    from ingestion.messages import _clean_fast

    message = {"userId": "u", "event": "E", "properties": {"s": 'a[{"]}', **_nested(30)}}
    cleaned, size = _clean_fast(message, 32)
    assert cleaned is message
    # The size is the message's compact JSON in UTF-8, as the limit documents.
    assert size == len(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode())
