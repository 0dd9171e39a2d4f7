"""Discovery: the catalog learns activities, their properties and profile attributes from
stored events, one batch at a time.

Runs as an ingest processor (`INGEST_EVENT_PROCESSORS`) in the worker, inside the
transaction that marks the events processed. A batch is first aggregated in memory; then a
fixed handful of set-based upserts apply it, whatever the batch size: one per table, each
row touched once per batch, in a stable order so that two workers never deadlock. Paths
already known are cached per process, so only a path never seen before costs a look-up.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from cdp_project.core.jsontext import json_text
from cdp_project.core.prepared import prepared_cursor
from ingestion.catalog.paths import (
    WalkLimits,
    example_value,
    is_personal_path,
    personal_kind,
    same_value,
    walk,
)
from ingestion.catalog.products import products_discover
from ingestion.catalog.roles import default_role
from ingestion.models import Activity, Event, FieldType

logger = logging.getLogger(__name__)

ACTIVITY_KINDS = {"track", "page", "screen"}
TYPE_COLUMNS = [f"{kind}_count" for kind in FieldType.values]


def activity_key(event_type: str, name: str) -> tuple[str, str]:
    """The catalog's key for an event: track events by name; page and screen calls are
    one activity each."""
    return (event_type, name if event_type == "track" else "")


@dataclass
class FieldStats:
    volume: int = 0
    types: Counter = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None
    # Newest first, distinct; with, position by position, the profile each came from.
    examples: list[Any] = field(default_factory=list)
    origins: list[int | None] = field(default_factory=list)
    # What its values look like, when one looked personal (a key of PERSONAL_KINDS), and
    # how many values were looked at for it in this batch.
    suggestion: str = ""
    looked_at: int = 0

    def add(self, types: Iterable[str], at: datetime) -> None:
        self.volume += 1
        self.types.update(types)
        self.first = at if self.first is None else min(self.first, at)
        self.last = at if self.last is None else max(self.last, at)

    def offer(
        self, values: Sequence[Any], path: str, *, keep: int, mask: bool, origin: int | None
    ) -> None:
        """An event's values as examples, while fewer than `keep` are kept. Events are
        offered newest first, so the newest event's values come first, in the order that
        event carried them, then the older events' values that differ; only a value that
        may still be kept is masked. `origin` is the profile of the event."""
        for value in values:
            if len(self.examples) >= keep:
                return
            shown = example_value(value, path, mask=mask)
            if not any(same_value(shown, kept) for kept in self.examples):
                self.examples.append(shown)
                self.origins.append(origin)


@dataclass
class ActivityStats:
    volume: int = 0
    first: datetime | None = None
    last: datetime | None = None
    days: Counter = field(default_factory=Counter)
    properties: dict[str, FieldStats] = field(default_factory=lambda: defaultdict(FieldStats))


def _limits() -> WalkLimits:
    return WalkLimits(
        max_paths=settings.CATALOG_MAX_PATHS_PER_EVENT,
        max_array_items=settings.CATALOG_MAX_ARRAY_ITEMS_SCANNED,
    )


# Values of one path looked at for personal data per batch: enough to notice a field of
# emails or addresses, bounded so that a batch of thousands costs no more.
_LOOKS_PER_BATCH = 10


def _record(
    target: dict[str, FieldStats], payload: dict[str, Any], at: datetime, origin: int | None
) -> None:
    """Fold one event's paths into `target`. Callers visit events newest first; `origin` is
    the event's profile, kept beside each example it gave."""
    keep = settings.CATALOG_EXAMPLES
    mask = settings.CATALOG_MASK_CONTACT_EXAMPLES
    for path, sighting in walk(payload, _limits()).items():
        stats = target[path]
        stats.add(sighting.types, at)
        if not stats.suggestion and stats.looked_at < _LOOKS_PER_BATCH:
            for value in sighting.examples:
                stats.looked_at += 1
                kind = personal_kind(value, path)
                if kind:
                    stats.suggestion = kind
                    break
        if len(stats.examples) < keep:
            stats.offer(sighting.examples, path, keep=keep, mask=mask, origin=origin)


def catalog_discover(events: Sequence[Event]) -> None:
    """The ingest processor: fold a batch of stored events into the catalog."""
    activities: dict[tuple[str, str], ActivityStats] = defaultdict(ActivityStats)
    traits: dict[str, FieldStats] = defaultdict(FieldStats)
    identifies = 0
    tz = timezone.get_default_timezone()
    # Newest first: each field's examples are the newest values (`FieldStats.offer`).
    for event in sorted(events, key=lambda e: (e.timestamp, e.pk), reverse=True):
        at = event.timestamp
        if event.type in ACTIVITY_KINDS:
            stats = activities[activity_key(event.type, event.name)]
            stats.volume += 1
            stats.first = at if stats.first is None else min(stats.first, at)
            stats.last = at if stats.last is None else max(stats.last, at)
            stats.days[at.astimezone(tz).date()] += 1
            _record(stats.properties, event.properties, at, event.profile_id)
        elif event.type == "identify":
            identifies += 1
            _record(traits, event.traits, at, event.profile_id)
    if activities:
        _apply_activities(activities)
    if identifies:
        _apply_profile_attributes(traits, identifies)
    products_discover(events)


# --- applying a batch ------------------------------------------------------------------------

# Paths known to exist, per process: (activity id, path) and profile attribute paths. Only
# a path missing here costs a look-up; a path that turns out to exist is remembered.
_known_properties: set[tuple[int, str]] = set()
_known_attributes: set[str] = set()
_KNOWN_LIMIT = 200_000


def forget_known_paths() -> None:
    """Clear the per-process cache (tests, or after paths were deleted by hand)."""
    _known_properties.clear()
    _known_attributes.clear()


def _remember(known: set, keys: Iterable) -> None:
    keys = list(keys)

    def add() -> None:
        if len(known) + len(keys) > _KNOWN_LIMIT:
            known.clear()
        known.update(keys)

    transaction.on_commit(add)


_UPSERT_ACTIVITIES = """
    INSERT INTO ingestion_activity AS a (
        kind, name, display_name, description, role, status, volume, blocked_count,
        property_count, properties_truncated, first_seen, last_seen, created_at
    )
    SELECT kind, name, '', '', role, 'active', volume, 0, 0, false, first_seen, last_seen, %s
    FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[],
                %s::timestamptz[], %s::timestamptz[])
         WITH ORDINALITY AS t(kind, name, role, volume, first_seen, last_seen, ord)
    ORDER BY ord
    ON CONFLICT (kind, name) DO UPDATE SET
        volume = a.volume + excluded.volume,
        first_seen = LEAST(a.first_seen, excluded.first_seen),
        last_seen = GREATEST(a.last_seen, excluded.last_seen)
    RETURNING id, kind, name, property_count
"""

_UPSERT_DAYS = """
    INSERT INTO ingestion_activityday AS d (activity_id, day, count)
    SELECT activity_id, day, count
    FROM unnest(%s::bigint[], %s::date[], %s::bigint[]) WITH ORDINALITY
         AS t(activity_id, day, count, ord)
    ORDER BY ord
    ON CONFLICT (activity_id, day) DO UPDATE SET count = d.count + excluded.count
"""

# The examples of a field and their origins: this batch's newest values first ({new}, with
# {new_origins}), then the ones kept, distinct (a value keeps its newest origin), at most
# {keep}; none at all while the field is marked personal. ROWS FROM zips the two arrays.
_MERGE_EXAMPLES = """
    (examples, example_origins) = (
        SELECT coalesce(jsonb_agg(value ORDER BY position), '[]'::jsonb),
               coalesce(jsonb_agg(origin ORDER BY position), '[]'::jsonb)
        FROM (
            SELECT value, origin, position FROM (
                SELECT DISTINCT ON (value) value, origin, position FROM (
                    SELECT value, origin, position
                    FROM ROWS FROM (jsonb_array_elements({new}),
                                    jsonb_array_elements({new_origins}))
                         WITH ORDINALITY AS n(value, origin, position)
                    UNION ALL
                    SELECT value, origin, position + 1000
                    FROM ROWS FROM (jsonb_array_elements(f.examples),
                                    jsonb_array_elements(f.example_origins))
                         WITH ORDINALITY AS o(value, origin, position)
                ) AS candidates
                WHERE value IS NOT NULL AND NOT f.personal
                ORDER BY value, position
            ) AS distinct_values
            ORDER BY position LIMIT {keep}
        ) AS kept
    )
"""

_FIELD_UPDATES = ",\n".join(
    [f"{column} = f.{column} + excluded.{column}" for column in TYPE_COLUMNS]
    + [
        "volume = f.volume + excluded.volume",
        "first_seen = LEAST(f.first_seen, excluded.first_seen)",
        "last_seen = GREATEST(f.last_seen, excluded.last_seen)",
    ]
)
_TYPE_ARRAYS = ", ".join(["%s::bigint[]"] * len(TYPE_COLUMNS))
_TYPE_NAMES = ", ".join(TYPE_COLUMNS)


def _upsert_fields_sql(table: str, owner: str | None) -> str:
    owner_insert = f"{owner}, " if owner else ""
    owner_array = "%s::bigint[], " if owner else ""
    conflict = f"({owner}, path)" if owner else "(path)"
    owner_match = f" AND b.{owner} = excluded.{owner}" if owner else ""
    # The batch's own examples, read from the batch rather than from `excluded`: a field
    # inserted as personal stores none, but one a marketer un-marked must get them back.
    batch = f"FROM batch b WHERE b.path = excluded.path{owner_match}"
    merge = _MERGE_EXAMPLES.format(
        keep=int(settings.CATALOG_EXAMPLES),
        new=f"(SELECT b.examples::jsonb {batch})",
        new_origins=f"(SELECT b.origins::jsonb {batch})",
    )
    # Built from this module's constants only; every value travels as a parameter.
    return f"""
        WITH batch AS (
            SELECT * FROM unnest({owner_array}%s::text[], %s::boolean[], {_TYPE_ARRAYS},
                                 %s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::text[],
                                 %s::text[], %s::text[])
                 WITH ORDINALITY AS t({owner_insert}path, personal, {_TYPE_NAMES},
                                      volume, first_seen, last_seen, examples, origins,
                                      suggestion, ord)
        )
        INSERT INTO {table} AS f (
            {owner_insert}path, display_name, description, personal, pinned_type,
            {_TYPE_NAMES}, volume, first_seen, last_seen, examples, example_origins,
            personal_suggested, personal_dismissed
        )
        SELECT {owner_insert}path, '', '', personal, '',
               {_TYPE_NAMES}, volume, first_seen, last_seen,
               CASE WHEN personal THEN '[]'::jsonb ELSE examples::jsonb END,
               CASE WHEN personal THEN '[]'::jsonb ELSE origins::jsonb END,
               CASE WHEN personal THEN '' ELSE suggestion END, false
        FROM batch
        ORDER BY ord
        ON CONFLICT {conflict} DO UPDATE SET
            {_FIELD_UPDATES},
            {merge},
            personal_suggested = CASE
                WHEN f.personal OR f.personal_dismissed OR f.personal_suggested <> ''
                THEN f.personal_suggested
                ELSE coalesce((SELECT b.suggestion {batch}), '')
            END
        RETURNING {owner + ", " if owner else ""}path, (xmax = 0) AS inserted
    """  # noqa: S608


def _field_columns(rows: list[tuple[str, FieldStats]]) -> list[list[Any]]:
    """The per-column arrays for `_upsert_fields_sql`, in its order after the owner."""
    columns: list[list[Any]] = [[], []] + [[] for _ in TYPE_COLUMNS] + [[], [], [], [], [], []]
    for path, stats in rows:
        values = [path, is_personal_path(path)]
        values += [stats.types.get(kind, 0) for kind in FieldType.values]
        values += [stats.volume, stats.first, stats.last, json.dumps(stats.examples)]
        values += [json.dumps(stats.origins), stats.suggestion]
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return columns


def _apply_activities(batch: dict[tuple[str, str], ActivityStats]) -> None:
    keys = sorted(batch)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT_ACTIVITIES,
            [
                now,
                [kind for kind, _ in keys],
                [name for _, name in keys],
                [default_role(kind, name) for kind, name in keys],
                [batch[key].volume for key in keys],
                [batch[key].first for key in keys],
                [batch[key].last for key in keys],
            ],
        )
        rows = cursor.fetchall()
        ids = {(kind, name): pk for pk, kind, name, _ in rows}
        property_counts = {pk: count for pk, _, _, count in rows}

        days: list[tuple[int, date, int]] = sorted(
            (ids[key], day, count) for key in keys for day, count in batch[key].days.items()
        )
        cursor.execute(
            _UPSERT_DAYS,
            [[row[0] for row in days], [row[1] for row in days], [row[2] for row in days]],
        )

        candidates = [
            (ids[key], path, stats) for key in keys for path, stats in batch[key].properties.items()
        ]
        if not candidates:
            return
        unknown = [(pk, path) for pk, path, _ in candidates if (pk, path) not in _known_properties]
        existing: set[tuple[int, str]] = set()
        if unknown:
            cursor.execute(
                """
                SELECT p.activity_id, p.path FROM ingestion_activityproperty p
                JOIN unnest(%s::bigint[], %s::text[]) AS t(activity_id, path)
                  ON p.activity_id = t.activity_id AND p.path = t.path
                """,
                [[pk for pk, _ in unknown], [path for _, path in unknown]],
            )
            existing = {(pk, path) for pk, path in cursor.fetchall()}

        # New paths are admitted while the activity has room; the most frequent first.
        limit = settings.CATALOG_MAX_PROPERTIES_PER_ACTIVITY
        admitted: list[tuple[int, str, FieldStats]] = []
        new_by_activity: dict[int, list[tuple[int, str, FieldStats]]] = defaultdict(list)
        for pk, path, stats in candidates:
            if (pk, path) in _known_properties or (pk, path) in existing:
                admitted.append((pk, path, stats))
            else:
                new_by_activity[pk].append((pk, path, stats))
        truncated: set[int] = set()
        for pk, new in new_by_activity.items():
            room = max(limit - property_counts[pk], 0)
            new.sort(key=lambda item: (-item[2].volume, item[1]))
            admitted += new[:room]
            if len(new) > room:
                truncated.add(pk)
        admitted.sort(key=lambda item: (item[0], item[1]))
        if admitted:
            cursor.execute(
                _upsert_fields_sql("ingestion_activityproperty", "activity_id"),
                [
                    [pk for pk, _, _ in admitted],
                    *_field_columns([(path, stats) for _, path, stats in admitted]),
                ],
            )
            inserted = Counter(pk for pk, _, was_inserted in cursor.fetchall() if was_inserted)
        else:
            inserted = Counter()
        if inserted or truncated:
            changed = sorted(set(inserted) | truncated)
            cursor.execute(
                """
                UPDATE ingestion_activity AS a
                SET property_count = a.property_count + t.added,
                    properties_truncated = a.properties_truncated OR t.truncated
                FROM unnest(%s::bigint[], %s::int[], %s::boolean[]) AS t(id, added, truncated)
                WHERE a.id = t.id
                """,
                [changed, [inserted[pk] for pk in changed], [pk in truncated for pk in changed]],
            )
            if truncated:
                logger.warning(
                    "catalog_properties_truncated activities=%s limit=%d",
                    sorted(truncated),
                    limit,
                )
        _remember(_known_properties, [(pk, path) for pk, path, _ in admitted])


def _apply_profile_attributes(traits: dict[str, FieldStats], identifies: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO ingestion_catalogcount AS c (key, count) VALUES ('identify', %s)
            ON CONFLICT (key) DO UPDATE SET count = c.count + excluded.count
            """,
            [identifies],
        )
        if not traits:
            return
        unknown = [path for path in traits if path not in _known_attributes]
        admitted = [path for path in traits if path in _known_attributes]
        if unknown:
            cursor.execute(
                "SELECT path FROM ingestion_profileattribute WHERE path = ANY(%s::text[])",
                [unknown],
            )
            existing = {row[0] for row in cursor.fetchall()}
            admitted += [path for path in unknown if path in existing]
            new = sorted(
                (path for path in unknown if path not in existing),
                key=lambda path: (-traits[path].volume, path),
            )
            if new:
                cursor.execute("SELECT count(*) FROM ingestion_profileattribute")
                room = max(settings.CATALOG_MAX_PROFILE_ATTRIBUTES - cursor.fetchone()[0], 0)
                if len(new) > room:
                    logger.warning(
                        "catalog_profile_attributes_truncated dropped=%d", len(new) - room
                    )
                admitted += new[:room]
        admitted.sort()
        if admitted:
            cursor.execute(
                _upsert_fields_sql("ingestion_profileattribute", None),
                _field_columns([(path, traits[path]) for path in admitted]),
            )
        _remember(_known_attributes, admitted)


# The status is written in, not bound: the partial index is only usable by a plan that
# knows it (a prepared statement is planned once, for any value).
_BLOCKED = f"""
    SELECT kind, name FROM ingestion_activity
    WHERE status = '{Activity.Status.BLOCKED.value}'
      AND name IN (SELECT jsonb_array_elements_text(%s::jsonb))
"""  # noqa: S608 - our own constant, never input


def activities_blocked(keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these activity keys are blocked: one statement on the partial
    `activity_blocked` index (it holds only blocked activities). Asked on every ingest
    request, so written out rather than compiled by the ORM each time."""
    keys = set(keys)
    if not keys:
        return set()
    with prepared_cursor() as cursor:
        cursor.execute(_BLOCKED, [json_text(sorted({n for _, n in keys}))])
        return {key for key in cursor.fetchall() if key in keys}
