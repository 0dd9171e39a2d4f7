"""One Segment-spec message in, one clean event (or the reason it is refused) out.

Every rule here is documented in docs/ingest.md; the names of the refusal codes are part of
the API.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

import orjson
from django.conf import settings

from ingestion.decoding import NON_FINITE, TOO_DEEP_MARKER

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")
MAX_ID_LENGTH = 255
MAX_MESSAGE_ID_LENGTH = 128
MAX_NAME_LENGTH = 255
_SURROGATE = re.compile("[\ud800-\udfff]")
# Fields that get columns of their own; the rest of a message is kept in `extra`.
_COLUMN_FIELDS = {
    "type",
    "event",
    "name",
    "userId",
    "anonymousId",
    "messageId",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "receivedAt",
    "properties",
    "traits",
    "context",
    "writeKey",
}


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class CleanEvent:
    message_id: str
    type: str
    name: str
    user_id: str
    anonymous_id: str
    timestamp: datetime
    original_timestamp: datetime | None
    sent_at: datetime | None
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]
    extra: dict[str, Any]
    flags: list[str] = field(default_factory=list)
    # The position in the request's batch.
    index: int = 0


@dataclass
class BatchContext:
    """What applies to every message of one request."""

    received_at: datetime
    ip: str | None = None
    sent_at: Any = None  # the batch-level `sentAt`, not yet parsed
    context: dict[str, Any] = field(default_factory=dict)  # batch-level context (analytics-go)
    # How far before `received_at` an event's time may lie; None is INGEST_PAST_LIMIT. Only
    # trusted in-process importers of history (profile and order CSV imports) set it: the
    # HTTP API never does, so its rule stays as documented.
    past_limit: timedelta | None = None
    # The limits every message is held to, read from the settings once per request.
    max_depth: int = field(init=False)
    max_event_bytes: int = field(init=False)
    earliest: datetime = field(init=False)  # an event's time before this is out of range
    latest: datetime = field(init=False)  # and after this

    def __post_init__(self) -> None:
        self.max_depth = settings.INGEST_MAX_DEPTH
        self.max_event_bytes = settings.INGEST_MAX_EVENT_BYTES
        past_limit = settings.INGEST_PAST_LIMIT if self.past_limit is None else self.past_limit
        self.earliest = self.received_at - past_limit
        self.latest = self.received_at + settings.INGEST_FUTURE_TOLERANCE


# --- hostile values ------------------------------------------------------------------------


class _Cleaner:
    """Walks a message once: measures depth, removes what `jsonb` cannot store."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.flags: set[str] = set()

    def clean(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, dict):
            self._check_depth(depth + 1)
            return {self._string(str(k)): self.clean(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            self._check_depth(depth + 1)
            return [self.clean(v, depth + 1) for v in value]
        if isinstance(value, str):
            if value == TOO_DEEP_MARKER:
                raise self._too_deep()
            return self._string(value)
        if value is NON_FINITE:
            self.flags.add("non_finite_number_nulled")
            return None
        return value

    def _check_depth(self, depth: int) -> None:
        if depth > self.max_depth:
            raise self._too_deep()

    def _too_deep(self) -> Refused:
        return Refused(
            "too_deep", f"The event nests objects and arrays deeper than {self.max_depth} levels."
        )

    def _string(self, value: str) -> str:
        if "\x00" in value:
            self.flags.add("nul_removed")
            value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            self.flags.add("lone_surrogate_replaced")
            # The JSON parser already combined valid pairs: any surrogate left is lone.
            value = _SURROGATE.sub("\ufffd", value)
        return value


# --- fields --------------------------------------------------------------------------------


# Control characters, and the invisible ones that reorder or hide text (bidirectional
# overrides, zero-width marks): in a name or an id they make two different values look alike
# in every list that shows them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _refuse_control(text: str, key: str, code: str = "") -> None:
    found = _CONTROL.search(text)
    if found:
        raise Refused(
            code or f"invalid_{_snake(key)}",
            f"`{key}` holds the control or invisible character U+{ord(found.group()):04X}; "
            "names and ids must be plain text.",
        )


# The fields whose control characters refuse the event, by the call they name something in.
_PLAIN_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "userId": MESSAGE_TYPES,
    "anonymousId": MESSAGE_TYPES,
    "event": ("track",),
    "name": ("page", "screen"),
    "previousId": ("alias",),
    "groupId": ("group",),
}


def _refuse_nul_in_names(raw: dict[str, Any], kind: Any) -> None:
    """A NUL in a name or an id refuses the event, as any other control character does:
    checked before the cleaning, which removes NUL from every other string."""
    kind = kind.strip().lower() if isinstance(kind, str) else kind
    for key, kinds in _PLAIN_TEXT_FIELDS.items():
        value = raw.get(key)
        if isinstance(value, str) and "\x00" in value and kind in kinds:
            _refuse_control(value, key, "invalid_name" if key in ("event", "name") else "")


def _identifier(message: dict[str, Any], key: str) -> str:
    value = message.get(key)
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Refused(f"invalid_{_snake(key)}", f"`{key}` must be a string or a number.")
    # Measured and checked as sent, then trimmed: what the OpenAPI schema says.
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        raise Refused(f"invalid_{_snake(key)}", f"`{key}` is longer than {MAX_ID_LENGTH}.")
    _refuse_control(text, key)
    return text.strip()


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def _object(message: dict[str, Any], key: str) -> dict[str, Any]:
    value = message.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Refused(f"invalid_{key}", f"`{key}` must be an object.")
    return value


class OffCalendar(Exception):
    """A well-formed time that cannot be kept as a time: in UTC it falls outside
    `CALENDAR_FIRST`..`CALENDAR_LAST` (years 1 to 9999, less a day at each end, so that it
    can still be shown in any time zone)."""


CALENDAR_FIRST = datetime(1, 1, 2, tzinfo=UTC)
CALENDAR_LAST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
# A leap second (`23:59:60`), which `fromisoformat` refuses: read as Postgres reads it, the
# first instant of the next minute.
_LEAP_SECOND = re.compile(r"^(.*[T ]\d\d:\d\d:)60(?=$|[.,+\-zZ])")
# A date whose year Python's calendar has no room for: year 0, a year of five or more
# digits, or a signed (ISO-8601 expanded) year.
_YEAR_OFF_CALENDAR = re.compile(r"^(?:0000|\d{5,}|[+-]\d{4,})-\d\d-\d\d")


def parse_time(value: Any, key: str) -> datetime | None:
    """ISO-8601 with or without an offset (naive means UTC), or epoch milliseconds.

    Raises `Refused` when the value is no date-time, and `OffCalendar` when it is one that
    lies past the calendar's ends once in UTC (`0001-01-01T00:00:00+00:01` is a minute
    before year 1): that event is stored by the out-of-range rule, not refused."""
    if value is None or value == "":
        return None
    parsed: datetime | None = None
    if isinstance(value, str):
        text = value.strip()
        leap = _LEAP_SECOND.match(text)
        try:
            if leap:
                parsed = datetime.fromisoformat(_LEAP_SECOND.sub(r"\g<1>59", text))
                parsed += timedelta(seconds=1)
            else:
                parsed = datetime.fromisoformat(text)
        except OverflowError as exc:  # the leap second of 9999-12-31
            raise OffCalendar(key) from exc
        except ValueError as exc:
            if _YEAR_OFF_CALENDAR.match(text):
                raise OffCalendar(key) from exc
            parsed = None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            parsed = datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise OffCalendar(key) from exc  # epoch milliseconds past the calendar
    if parsed is None:
        raise Refused(
            f"invalid_{_snake(key)}", f"`{key}` is not an ISO-8601 date-time: {str(value)[:40]!r}."
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError as exc:  # the offset carries it past year 1 or year 9999
        raise OffCalendar(key) from exc
    if not CALENDAR_FIRST <= parsed <= CALENDAR_LAST:
        raise OffCalendar(key)
    return parsed


def _storable_time(value: Any) -> Any:
    """An off-calendar time as `jsonb` can keep it. A batch's `sentAt` is copied into each
    of its events uncleaned: its text loses NUL and lone surrogates, and is cut short."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))[:64]
    return value


@dataclass
class _ClientTimes:
    """The times a message carries, parsed; the raw values of those off the calendar."""

    client_time: datetime | None = None
    sent_at: datetime | None = None
    off_calendar: dict[str, Any] = field(default_factory=dict)

    def parse(self, value: Any, key: str) -> datetime | None:
        try:
            return parse_time(value, key)
        except OffCalendar:
            self.off_calendar[key] = value
            return None


def _client_times(message: dict[str, Any], batch: BatchContext) -> _ClientTimes:
    times = _ClientTimes()
    # `originalTimestamp` is the device's clock; `timestamp` is what server SDKs set.
    if message.get("originalTimestamp") not in (None, ""):
        times.client_time = times.parse(message["originalTimestamp"], "originalTimestamp")
        with contextlib.suppress(OffCalendar):  # not used, but held to the same rules
            parse_time(message.get("timestamp"), "timestamp")
    else:
        times.client_time = times.parse(message.get("timestamp"), "timestamp")
    if message.get("sentAt") not in (None, ""):
        times.sent_at = times.parse(message["sentAt"], "sentAt")
    else:
        times.sent_at = times.parse(batch.sent_at, "sentAt")
    return times


def _event_time(times: _ClientTimes, batch: BatchContext) -> tuple[datetime, list[str]]:
    """Segment's rule: with `sentAt`, the event happened `sentAt - client_time` before the
    request was received, whatever the client's clock says. Without it, the client's time
    is kept. A time outside [received - past limit, received + future tolerance], or one
    the calendar cannot hold, is replaced by the received time and flagged."""
    received_at = batch.received_at
    client_time, sent_at = times.client_time, times.sent_at
    if times.off_calendar:
        return received_at, ["timestamp_out_of_range"]
    if client_time is None:
        return received_at, []
    try:
        corrected = client_time if sent_at is None else received_at - (sent_at - client_time)
    except OverflowError:  # a skew of thousands of years lands before year 1 or after 9999
        return received_at, ["timestamp_out_of_range"]
    if corrected > batch.latest or corrected < batch.earliest:
        return received_at, ["timestamp_out_of_range"]
    return corrected, []


_NOT_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[^\[\]{}]')
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _clean_fast(raw: dict, max_depth: int) -> tuple[dict | None, int]:
    """The message as it came and its size, when it holds nothing to clean: no NUL, no lone
    surrogate, no non-finite number, no too-deep container (nearly every message). Checked
    on one JSON encoding of the message, in C (orjson), instead of a walk over every value
    in Python; anything doubtful (and an integer orjson cannot encode) returns None, and
    the walk runs."""
    try:
        text = orjson.dumps(raw, default=repr)
    except orjson.JSONEncodeError:  # a lone surrogate, an integer past 64 bits
        return None, 0
    if b"\\u0000" in text or b"NON_FINITE" in text:
        return None, 0
    # A message with no more containers than the depth bound cannot nest past it: counting
    # brackets (in strings too, so it can only overcount) spares nearly every message the
    # walk over its structure.
    if text.count(b"{") + text.count(b"[") <= max_depth:
        return raw, len(text)
    brackets = _NOT_BRACKETS.sub("", text.decode())
    if (
        len(brackets) > 2 * max_depth
        and max(accumulate(map(_DEPTH_STEP.__getitem__, brackets))) > max_depth
    ):
        return None, 0
    return raw, len(text)


def clean_batch_context(raw: dict[str, Any]) -> dict[str, Any]:
    """A batch's own `context` (Go's SDK sends one), cleaned as a message's is, once for the
    batch: it is merged into every event. Raises `Refused` when it nests too deep."""
    message, _ = _clean_fast(raw, settings.INGEST_MAX_DEPTH)
    return message if message is not None else _Cleaner(settings.INGEST_MAX_DEPTH).clean(raw)


def clean_message(raw: Any, batch: BatchContext, *, message_type: str | None) -> CleanEvent:
    """Validate and clean one message; raise `Refused` with the reason when it cannot be
    accepted. `message_type` is set by the single-message endpoints."""
    if not isinstance(raw, dict):
        raise Refused("invalid_event", "Each event must be a JSON object.")
    flags: list[str] = []
    message, size = _clean_fast(raw, batch.max_depth)
    if message is None:
        _refuse_nul_in_names(raw, message_type or raw.get("type"))
        cleaner = _Cleaner(batch.max_depth)
        message = cleaner.clean(raw)
        flags = sorted(cleaner.flags)
        text = json.dumps(message, ensure_ascii=False, default=str, separators=(",", ":"))
        size = len(text.encode())
    if size > batch.max_event_bytes:
        raise Refused(
            "event_too_large",
            f"The event is {size // 1024} KB; the limit is {batch.max_event_bytes // 1024} KB.",
        )

    kind = message_type or str(message.get("type") or "").strip().lower()
    if kind not in MESSAGE_TYPES:
        raise Refused(
            "invalid_type", f"`type` must be one of {', '.join(MESSAGE_TYPES)}; got {kind!r}."
        )

    user_id = _identifier(message, "userId")
    anonymous_id = _identifier(message, "anonymousId")
    if not user_id and not anonymous_id:
        raise Refused("missing_identity", "Each event needs a `userId` or an `anonymousId`.")

    name = ""
    if kind == "track":
        event_name = message.get("event")
        if not isinstance(event_name, str) or not event_name.strip():
            raise Refused("missing_event", "A track call needs an `event` name.")
        name = event_name
    elif kind in ("page", "screen"):
        page_name = message.get("name")
        if page_name is not None and (
            isinstance(page_name, bool) or not isinstance(page_name, str | int | float)
        ):
            raise Refused("invalid_name", "`name` must be a string.")
        name = str(page_name) if page_name is not None else ""
    if len(name) > MAX_NAME_LENGTH:
        raise Refused("invalid_name", f"The event name is longer than {MAX_NAME_LENGTH}.")
    _refuse_control(name, "event" if kind == "track" else "name", "invalid_name")
    name = name.strip()

    if kind == "alias" and not _identifier(message, "previousId"):
        raise Refused("missing_previous_id", "An alias call needs a `previousId`.")
    if kind == "group" and not _identifier(message, "groupId"):
        raise Refused("missing_group_id", "A group call needs a `groupId`.")

    properties = _object(message, "properties")
    traits = _object(message, "traits")
    _object(message, "integrations")  # kept in `extra` as it came, once known an object
    context = {**batch.context, **_object(message, "context")}
    if kind in ("identify", "group"):
        # Mobile SDKs and RudderStack put identify traits in `context.traits`.
        context_traits = context.get("traits")
        if isinstance(context_traits, dict):
            traits = {**context_traits, **traits}
    if batch.ip and not context.get("ip"):
        context["ip"] = batch.ip

    message_id = message.get("messageId")
    if message_id is not None and (
        not isinstance(message_id, str | int) or isinstance(message_id, bool)
    ):
        raise Refused("invalid_message_id", "`messageId` must be a string.")
    # Blank once cleaned is absent: a shared empty key would make every such event after
    # the first a duplicate.
    message_id = str(message_id) if message_id is not None else ""
    # As sent: the cleaning may have shortened it (a NUL removed).
    if max(len(message_id), len(str(raw.get("messageId", "")))) > MAX_MESSAGE_ID_LENGTH:
        raise Refused("invalid_message_id", f"`messageId` is longer than {MAX_MESSAGE_ID_LENGTH}.")
    message_id = message_id.strip() or str(uuid.uuid4())

    times = _client_times(message, batch)
    timestamp, time_flags = _event_time(times, batch)

    extra = {k: v for k, v in message.items() if k not in _COLUMN_FIELDS}
    # A time off the calendar has no column to go in: its text is kept with the rest.
    extra.update({key: _storable_time(value) for key, value in times.off_calendar.items()})
    return CleanEvent(
        message_id=message_id,
        type=kind,
        name=name,
        user_id=user_id,
        anonymous_id=anonymous_id,
        timestamp=timestamp,
        original_timestamp=times.client_time,
        sent_at=times.sent_at,
        properties=properties,
        traits=traits,
        context=context,
        extra=extra,
        flags=flags + time_flags,
    )


def excerpt(raw: Any, limit: int = 2000) -> str:
    """The start of a refused payload, safe to store and show."""
    try:
        text = json.dumps(raw, ensure_ascii=True, default=repr)
    except (ValueError, TypeError, RecursionError):
        text = "(a payload too deeply nested to show)"
    return text if len(text) <= limit else text[:limit] + "…"


__all__ = [
    "BatchContext",
    "CleanEvent",
    "OffCalendar",
    "Refused",
    "clean_batch_context",
    "clean_message",
    "excerpt",
    "parse_time",
]
