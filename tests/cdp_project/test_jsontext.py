"""`json_text`: the JSON documents whole batches travel to Postgres in."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from cdp_project.core.jsontext import json_text


def test_decimals_travel_as_their_exact_text_and_datetimes_as_iso_8601():
    at = datetime(2026, 12, 4, 18, 30, 0, 123456, tzinfo=UTC)
    document = json.loads(json_text([{"price": Decimal("19.90"), "at": at, "n": 3}]))
    assert document == [{"price": "19.90", "at": "2026-12-04T18:30:00.123456+00:00", "n": 3}]


def test_integers_past_64_bits_stay_exact_with_decimals_beside_them():
    big = 2**70
    document = json.loads(json_text({"big": big, "total": Decimal("0.10")}))
    assert document == {"big": big, "total": "0.10"}
