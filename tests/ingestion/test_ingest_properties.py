"""The whole ingest path held to one rule with generated messages: whatever a message holds
(any JSON value in any field, and the values that break parsers: times past the calendar,
numbers past a double, NaN, lone surrogates, NUL, deep nesting), no request is answered
5xx, the valid events beside a bad one are stored, and processing what was stored never
fails. `make test` runs a bounded number of cases; CDP_FUZZ_EXAMPLES runs more."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.models import Event
from tests.conftest import basic_auth, process_stored

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("CDP_FUZZ_EXAMPLES", "60"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("CDP_FUZZ_EXAMPLES") is None,
    suppress_health_check=list(HealthCheck),
)


class Raw:
    """JSON text put in the body as it is: what `json.dumps` cannot write."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r})"


def body_text(value: Any) -> bytes:
    raws: list[str] = []

    def swap(item: Any) -> Any:
        if isinstance(item, Raw):
            raws.append(item.text)
            return f"\x01raw{len(raws) - 1}\x01"
        if isinstance(item, dict):
            return {key: swap(v) for key, v in item.items()}
        if isinstance(item, list):
            return [swap(v) for v in item]
        return item

    text = json.dumps(swap(value))  # ensure_ascii: lone surrogates travel as \udXXX
    for n, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x01raw{n}\x01"), raw)
    return text.encode()


TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "0000-01-01T00:00:00Z",
        "+275760-09-13T00:00:00Z",
        "-000001-01-01T00:00:00Z",
        "2026-06-30T23:59:60Z",
        "9999-12-31T23:59:60Z",
        "2026-01-01T00:00:00+24:00",
        "2026-02-30T00:00:00Z",
        "2026-01-01",
        "2026-01-01T00:00:00.123456789Z",
        "1970-01-01T00:00:00Z",
        "now",
        "",
        " ",
    ]
)
NUMBERS = st.sampled_from(
    [
        Raw("1e999999"),
        Raw("-1e999999"),
        Raw("1.5e-999999"),
        Raw("NaN"),
        Raw("Infinity"),
        Raw("-Infinity"),
        Raw("9" * 25),
        Raw("9" * 400),
        Raw("-" + "9" * 5000),
        Raw("1" + "0" * 300 + ".5"),
        10**40,
        -(10**40),
        2**63,
        2**64,
        -(2**63) - 1,
        1e308,
        -1e308,
        5e-324,
        -0.0,
        0,
        1,
        -1,
        999_999_999_999.99,
        253402300800000,  # epoch milliseconds of year 10000
    ]
)
STRINGS = st.sampled_from(
    [
        "",
        " ",
        "   ",
        "\x00",
        "a\x00b",
        "\ud800",
        "x\udfffy",
        "\u202e",
        "\u200b",
        "\ufeff",
        "\x7f",
        "\n",
        "\x1b[31m",
        "1e999999",
        "NaN",
        "-1",
        "12.50",
        "1,299.99",
        "x" * 300,
        "é" * 10,
        "USD",
        "usd",
        "a@b.c",
        "\x00cdp:too-deep\x00",
    ]
)
NESTING = st.sampled_from(
    [Raw("[" * 3000 + "]" * 3000), Raw('{"a":' * 40 + "1" + "}" * 40), Raw("[" * 33 + "]" * 33)]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | STRINGS
    | NUMBERS
    | TIMES
)
VALUES = st.recursive(
    SCALARS | NESTING,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=6) | STRINGS, children, max_size=4)
    ),
    max_leaves=12,
)
COMMERCE_KEYS = st.sampled_from(
    ["revenue", "total", "value", "price", "quantity", "currency", "order_id", "orderId",
     "product_id", "sku", "name", "products", "url", "image_url", "category", "email"]
)  # fmt: skip
PRODUCT = st.dictionaries(COMMERCE_KEYS, VALUES, max_size=5)
PROPERTIES = (
    st.dictionaries(COMMERCE_KEYS, VALUES | st.lists(PRODUCT | VALUES, max_size=3), max_size=6)
    | VALUES
)
TRAITS = (
    st.dictionaries(
        st.sampled_from(
            [
                "email",
                "first_name",
                "firstName",
                "last_name",
                "phone",
                "name",
                "address",
                "consent",
                "unsubscribed",
                "created_at",
                "birthday",
            ]
        ),
        VALUES,
        max_size=5,
    )
    | VALUES
)
EVENT_NAMES = st.sampled_from(
    ["Order Completed", "Order Refunded", "Order Cancelled", "Product Viewed", "Product Added",
     "Product Removed", "Checkout Started", "Cart Viewed", "Signed Up", "Unsubscribed"]
)  # fmt: skip
IDS = st.sampled_from(["u-bad", "a-bad", " u-bad "]) | STRINGS | NUMBERS | VALUES
TYPES = st.sampled_from(
    ["track", "identify", "page", "screen", "group", "alias", "TRACK", " page "]
)
MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "type": TYPES | VALUES,
        "event": EVENT_NAMES | VALUES,
        "name": EVENT_NAMES | VALUES,
        "userId": IDS,
        "anonymousId": IDS,
        "previousId": IDS,
        "groupId": IDS,
        "messageId": st.sampled_from(["m-bad", " "]) | STRINGS | NUMBERS | VALUES,
        "timestamp": TIMES | NUMBERS | VALUES,
        "originalTimestamp": TIMES | NUMBERS | VALUES,
        "sentAt": TIMES | NUMBERS | VALUES,
        "properties": PROPERTIES,
        "traits": TRAITS,
        "context": st.dictionaries(
            st.sampled_from(["ip", "traits", "page", "userAgent", "campaign", "library"]),
            VALUES,
            max_size=3,
        )
        | VALUES,
        "integrations": VALUES,
        "writeKey": VALUES,
    },
)
# Times a batch may carry without any event being refused: good or past the calendar.
BATCH_SENT_AT = st.none() | st.sampled_from(
    ["2026-01-01T00:00:00Z", "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-01:00"]
)


def neighbour() -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Neighbour",
        "userId": "u-good",
        "messageId": str(uuid.uuid4()),
        "properties": {"total": 10, "order_id": "o-good"},
    }


def post(client, key: str, path: str, body: bytes):
    return client.generic(
        "POST", f"/v1/{path}", body, content_type="application/json",
        HTTP_AUTHORIZATION=basic_auth(key),
    )  # fmt: skip


def assert_refused_or_stored(response, body: Any) -> None:
    """200, or a refusal with its reason: a 400, or a 401 for a `writeKey` that is no text."""
    key_is_text = not isinstance(body, dict) or isinstance(body.get("writeKey"), str | None)
    allowed = (200, 400) if key_is_text else (401,)
    assert response.status_code in allowed, response.content[:500]
    if response.status_code != 200:
        answer = json.loads(response.content)
        assert answer["success"] is False
        assert isinstance(answer["code"], str) and answer["code"]
        assert isinstance(answer["message"], str) and answer["message"]


@SETTINGS
@given(message=MESSAGE, sent_at=BATCH_SENT_AT, first=st.booleans())
def test_no_message_fails_a_request_and_its_neighbours_are_stored(
    client, write_key, message, sent_at, first
):
    batch = [message, neighbour()] if first else [neighbour(), message]
    body: dict[str, Any] = {"batch": batch}
    if sent_at is not None:
        body["sentAt"] = sent_at
    with transaction.atomic():
        response = post(client, write_key.key, "batch", body_text(body))
        assert response.status_code == 200, response.content[:500]
        answer = json.loads(response.content)
        assert answer["accepted"] + answer["duplicates"] + len(answer["refused"]) == 2
        assert all(refused["index"] == (0 if first else 1) for refused in answer["refused"])
        assert Event.objects.filter(user_id="u-good", name="Neighbour").count() == 1
        # The worker's step, on whatever was accepted.
        process_stored()
        failed = Event.objects.filter(flags__contains=["processing_failed"])
        assert not failed.exists(), list(failed.values("type", "name", "properties", "traits"))
        transaction.set_rollback(True)


@SETTINGS
@given(message=MESSAGE, path=st.sampled_from(["track", "identify", "page", "screen", "group"]))
def test_no_message_fails_a_single_message_endpoint(client, write_key, message, path):
    with transaction.atomic():
        response = post(client, write_key.key, path, body_text(message))
        assert_refused_or_stored(response, message)
        process_stored()
        assert not Event.objects.filter(flags__contains=["processing_failed"]).exists()
        transaction.set_rollback(True)


@SETTINGS
@given(
    batch=st.lists(MESSAGE, max_size=3) | VALUES,
    extra=st.fixed_dictionaries(
        {}, optional={"sentAt": TIMES | NUMBERS | VALUES, "context": VALUES, "writeKey": VALUES}
    ),
)
def test_no_batch_fails_a_request(client, write_key, batch, extra):
    with transaction.atomic():
        body = {"batch": batch, **extra}
        response = post(client, write_key.key, "batch", body_text(body))
        assert_refused_or_stored(response, body)
        transaction.set_rollback(True)
