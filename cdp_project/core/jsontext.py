"""JSON text for Postgres: whole batches travel to the database as one JSON document."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson


def json_text(value: Any) -> str:
    """`value` as JSON text, encoded by orjson (datetimes as ISO 8601, decimals as strings,
    which Postgres reads exactly into a `numeric` column).

    orjson stops at integers past 64 bits, which `jsonb` keeps exactly: those documents go
    through the standard encoder instead. Non-finite floats never reach here (ingest turns
    them into `null`); the standard encoder would refuse them rather than write `NaN`.
    """
    try:
        return orjson.dumps(value, default=_decimal).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, allow_nan=False, default=_iso)


def _decimal(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _iso(value: Any) -> str:
    if hasattr(value, "isoformat"):
        text: str = value.isoformat()
        return text
    return _decimal(value)
