"""Keyset-paging cursors shared by the list pages: a row's (time, id) as a URL-safe token."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOKEN = re.compile(r"(-?[0-9]{1,20})\.([0-9]{1,19})")


def micros_of(at: datetime) -> int:
    """Microseconds since 1970, exactly (no float rounding)."""
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime | None:
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return None


def time_id_token(at: datetime, pk: int) -> str:
    return f"{micros_of(at)}.{pk}"


def time_id_parse(token: str | None) -> tuple[datetime, int] | None:
    """The (time, id) of a token, or None for anything that is not one."""
    match = _TOKEN.fullmatch(token or "")
    if not match:
        return None
    at = from_micros(int(match.group(1)))
    return (at, int(match.group(2))) if at else None
