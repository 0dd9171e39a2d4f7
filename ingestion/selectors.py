"""Reads for ingestion."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from django.db import connection
from django.db.models import Q, QuerySet

from cdp_project.core.prepared import prepared_cursor
from ingestion.models import Event, Refusal, Source, WriteKey

_SOURCE_FIELDS = Source._meta.concrete_fields
_SOURCE_FOR_WRITE_KEY = f"""
    SELECT {", ".join(f"s.{field.column}" for field in _SOURCE_FIELDS)}
    FROM ingestion_writekey k JOIN ingestion_source s ON s.id = k.source_id
    WHERE k.key = %s AND k.revoked_at IS NULL AND s.enabled
"""  # noqa: S608 - the field names above, never input


def source_for_write_key(*, key: str) -> Source | None:
    """The enabled source an active key writes to, or None.

    Asked on every ingest request, so written out: one statement on the key's unique
    index, without the ORM's compiling of the same query each time. A key no stored key
    can equal (too long, or holding what Postgres text cannot: a NUL, a lone surrogate)
    is unknown without asking.
    """
    if not _storable_key(key):
        return None
    with prepared_cursor() as cursor:
        cursor.execute(_SOURCE_FOR_WRITE_KEY, [key])
        row = cursor.fetchone()
    if row is None:
        return None
    values = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(_SOURCE_FIELDS, row, strict=True)
    ]
    return Source.from_db(connection.alias, [field.attname for field in _SOURCE_FIELDS], values)


# A CharField, which Django requires to declare its max_length.
_KEY_MAX_LENGTH = cast(int, WriteKey._meta.get_field("key").max_length)


def _storable_key(key: str) -> bool:
    if not key or len(key) > _KEY_MAX_LENGTH or "\x00" in key:
        return False
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def source_active_write_key(*, source: Source) -> WriteKey | None:
    return source.write_keys.filter(revoked_at__isnull=True).order_by("-created_at").first()


@dataclass(frozen=True)
class DebuggerSearch:
    """What the debugger is asked to show: text matched exactly or as a prefix against the
    user id, anonymous id, event name and message id, and one call type."""

    text: str = ""
    prefix: bool = False
    type: str = ""

    def __post_init__(self) -> None:
        if self.type and self.type not in Event.Type.values:
            raise ValueError(f"unknown event type {self.type!r}")
        if "\x00" in self.text:
            raise ValueError("Postgres text cannot hold a NUL")


def _text_match(field: str, search: DebuggerSearch) -> Q:
    """`field` equal to the text, or starting with it, as an index range.

    A btree serves `LIKE 'x%'` only under the "C" collation or a pattern operator class,
    neither of which these indexes have; a range `x <= field < next(x)` it always serves.
    The range is exact under a code-point collation (the database's C.UTF-8) and a superset
    under others, so `startswith` is kept as a filter on what the range finds.
    """
    if not search.prefix:
        return Q(**{field: search.text})
    match = Q(**{f"{field}__gte": search.text, f"{field}__startswith": search.text})
    last = ord(search.text[-1])
    if last < 0x10FFFF:
        # The next code point, skipping the surrogates, which UTF-8 cannot hold.
        following = 0xE000 if 0xD7FF <= last < 0xE000 else last + 1
        match &= Q(**{f"{field}__lt": search.text[:-1] + chr(following)})
    return match


def source_latest_events(
    *,
    source: Source,
    after_id: int | None = None,
    limit: int = 50,
    search: DebuggerSearch | None = None,
) -> QuerySet[Event]:
    """The newest events first; served by the (source, id) index.

    A search is served by one index per field, or-ed in a bitmap (`event_user_id`,
    `event_anonymous_id`, `event_name_time`, `event_message_id`), never by reading the
    source's events one by one; a type alone rides on the (source, id) scan, as every
    type is common.
    """
    events = Event.objects.filter(source=source)
    if search is not None:
        if search.text:
            events = events.filter(
                _text_match("user_id", search)
                | _text_match("anonymous_id", search)
                | _text_match("name", search)
                | _text_match("message_id", search)
            )
        if search.type:
            events = events.filter(type=search.type)
    if after_id is not None:
        events = events.filter(pk__gt=after_id)
    return events.order_by("-pk")[:limit]


def source_latest_refusals(
    *,
    source: Source,
    after_id: int | None = None,
    limit: int = 50,
    search: DebuggerSearch | None = None,
) -> QuerySet[Refusal]:
    """The newest refusals first; served by the (source, id) index, and a search by the
    message id index (`refusal_message_id`): a refusal has no user id or name of its own,
    only the excerpt of what was sent, which no index serves."""
    refusals = Refusal.objects.filter(source=source)
    if search is not None and search.text:
        refusals = refusals.filter(_text_match("message_id", search))
    if after_id is not None:
        refusals = refusals.filter(pk__gt=after_id)
    return refusals.order_by("-pk")[:limit]


BACKLOG_COUNT_LIMIT = 100_000


def events_backlog() -> int:
    """Events stored but not yet processed, counted up to `BACKLOG_COUNT_LIMIT` (served
    by the partial `event_unprocessed` index, which holds only those rows); a result equal
    to the limit means "at least"."""
    pending = Event.objects.filter(processed_at__isnull=True).values("pk")
    return pending[:BACKLOG_COUNT_LIMIT].count()


def ingest_overview() -> dict[str, object]:
    """What the dashboard shows before the analytics exist: cheap reads only (no full
    counts of the events table)."""
    latest = Event.objects.order_by("-pk").only("received_at", "source").first()
    backlog = events_backlog()
    return {
        "sources": Source.objects.count(),
        "enabled_sources": Source.objects.filter(enabled=True).count(),
        "latest_event": latest,
        "backlog": backlog,
        "backlog_capped": backlog >= BACKLOG_COUNT_LIMIT,
        "recent_refusals": Refusal.objects.order_by("-pk").select_related("source")[:5],
    }


# --- one profile's timeline (read by profiles) ---------------------------------------------

# The activities of the timeline filter that are not in the catalog: identify, alias and
# group calls. Track events are named `track:<name>`; page and screen calls are one each.
TIMELINE_CALL_TYPES = ("page", "screen", "identify", "alias", "group")


def profile_events(
    *,
    profile_id: int,
    before: tuple[datetime, int] | None = None,
    activity: str | None = None,
    source_id: int | None = None,
    limit: int = 50,
) -> list[Event]:
    """One profile's events, newest first, `limit` at a time.

    Keyset paging on (timestamp, id): `before` is the (timestamp, id) of the last event
    already shown. `timestamp <= t` is an index condition of `event_profile_timeline`
    (profile, -timestamp, -id), so every page starts where the previous one ended, however
    deep; the rest of the condition only drops the few events that share that instant.
    Filters by activity (`track:<name>`, `page`, `screen`, `identify`, `alias`, `group`) or
    source ride on the same ordered scan.
    """
    events = Event.objects.filter(profile_id=profile_id).select_related("source")
    if before is not None:
        at, pk = before
        events = events.filter(timestamp__lte=at).filter(Q(timestamp__lt=at) | Q(pk__lt=pk))
    if activity:
        kind, _, name = activity.partition(":")
        if kind == "track":
            events = events.filter(type="track", name=name)
        elif kind in TIMELINE_CALL_TYPES:
            events = events.filter(type=kind)
        else:
            return []
    if source_id is not None:
        events = events.filter(source_id=source_id)
    return list(events.order_by("-timestamp", "-pk")[:limit])


# How many of a person's newest events the timeline's activity filter looks through.
PROFILE_ACTIVITY_SCAN = 5000


def profile_activity_kinds(
    *, profile_id: int, scan: int = PROFILE_ACTIVITY_SCAN
) -> list[tuple[str, str, str, str]]:
    """The activities among one profile's newest `scan` events, the most recently seen
    first, as (type, name, display name, catalog status): name is the event name of track
    events and "" otherwise; display name and status are "" when the catalog has no entry
    (identify, alias and group calls; an activity the catalog has not counted yet).
    What the timeline's activity filter offers for this person.

    One query, bounded whatever the person's history: the newest `scan` entries of
    `event_profile_timeline` (profile, -timestamp, -id), grouped, joined to the catalog.
    An activity done only before those events is not offered; the timeline unfiltered
    still shows it.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT seen.type, seen.activity, coalesce(a.display_name, ''), coalesce(a.status, '')
            FROM (
                SELECT type, activity, max(timestamp) AS last FROM (
                    SELECT type, CASE WHEN type = 'track' THEN name ELSE '' END AS activity,
                           timestamp
                    FROM ingestion_event
                    WHERE profile_id = %s ORDER BY timestamp DESC, id DESC LIMIT %s
                ) AS newest
                GROUP BY type, activity
            ) AS seen
            LEFT JOIN ingestion_activity AS a
              ON a.kind = seen.type AND a.name = seen.activity
            ORDER BY seen.last DESC, seen.type, seen.activity
            """,
            [profile_id, scan],
        )
        return [(kind, name, label, status) for kind, name, label, status in cursor.fetchall()]


def profile_linking_events(
    *,
    profile_id: int,
    message_ids: Iterable[str],
    timestamps: Iterable[datetime] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Event]:
    """The events of one profile with these message ids: the ones that linked its ids.

    Callers bound the search by time, which keeps it an index range of
    `event_profile_timeline` (there is no index on the message id alone): `timestamps`
    when they know the events' times (an identity's first-seen time is the time of the
    event that linked it), else a `since`/`until` window.
    """
    message_ids = sorted(set(message_ids) - {""})
    if not message_ids:
        return []
    events = Event.objects.filter(profile_id=profile_id, message_id__in=message_ids)
    timestamps = sorted(set(timestamps))
    if timestamps:
        events = events.filter(timestamp__in=timestamps)
    if since is not None:
        events = events.filter(timestamp__gte=since)
    if until is not None:
        events = events.filter(timestamp__lte=until)
    return list(
        events.select_related("source").only(
            "message_id",
            "type",
            "name",
            "user_id",
            "anonymous_id",
            "timestamp",
            "traits",
            "extra",
            "source__name",
        )
    )


def source_choices() -> list[tuple[int, str]]:
    """Every source as (id, name), for filters."""
    return list(Source.objects.order_by("name").values_list("pk", "name"))
