"""The events-per-hour rollup: what the dashboard counts, kept up to date by Celery beat.

Counting a million events on every dashboard view would cost seconds, so a beat task folds
the events stored since its last run into `EventHour` rows (per hour, source and activity), and a
read adds the few events stored since then, counted live. Nothing runs on the ingest path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from ingestion.models import EventHour, RollupMark

MARK = "event_hours"
# Events received less than this long ago are left to the next run: an ingest transaction
# that allocated lower ids may not have committed yet (a request's transaction lasts
# milliseconds; this leaves ample room), and counting past it would skip its events for good.
GRACE = timedelta(seconds=120)
# The most events one run folds in; a long outage's backlog is caught up over several runs.
REFRESH_LIMIT = 2_000_000
# The most events a read counts live past the mark; past it the figures say they are behind.
LIVE_LIMIT = 200_000

# Track events count by name; every other call by its type alone.
_ACTIVITY_NAME = "CASE WHEN type = 'track' THEN name ELSE '' END"


@transaction.atomic
def event_hours_refresh(*, now: datetime | None = None, limit: int = REFRESH_LIMIT) -> int:
    """Fold the events stored since the last run into the hourly counts, in one transaction
    with the mark (locked, so two runs never count an event twice). Answers how many events
    were counted."""
    now = now or timezone.now()
    mark, _ = RollupMark.objects.get_or_create(name=MARK)
    mark = RollupMark.objects.select_for_update().get(pk=mark.pk)
    with connection.cursor() as cursor:
        # Read by primary key from the mark on: only the tail of the table.
        cursor.execute(
            "SELECT max(id) FROM ingestion_event WHERE id > %s AND id <= %s AND received_at <= %s",
            [mark.last_id, mark.last_id + limit, now - GRACE],
        )
        upper = cursor.fetchone()[0]
        if upper is None:
            mark.refreshed_at = now
            mark.save(update_fields=["refreshed_at"])
            return 0
        # Rows in key order, so concurrent writers of the same hours never deadlock.
        cursor.execute(
            f"""
            WITH counted AS (
                SELECT date_trunc('hour', timestamp, 'UTC') AS hour, source_id, type,
                       {_ACTIVITY_NAME} AS name, count(*) AS count
                FROM ingestion_event WHERE id > %s AND id <= %s
                GROUP BY 1, 2, 3, 4
            ), added AS (
                INSERT INTO ingestion_eventhour (hour, source_id, type, name, count)
                SELECT * FROM counted ORDER BY 1, 2, 3, 4
                ON CONFLICT (hour, source_id, type, name)
                DO UPDATE SET count = ingestion_eventhour.count + EXCLUDED.count
                RETURNING 1
            )
            SELECT coalesce(sum(count), 0)::bigint FROM counted
            """,  # noqa: S608 - the interpolated text is a constant
            [mark.last_id, upper],
        )
        counted = cursor.fetchone()[0]
    mark.last_id = upper
    mark.refreshed_at = now
    mark.save(update_fields=["last_id", "refreshed_at"])
    return counted


@dataclass(frozen=True)
class HourCount:
    hour: datetime
    source_id: int
    type: str
    name: str
    count: int


@dataclass(frozen=True)
class HourCounts:
    rows: list[HourCount]
    # True when more events wait past the mark than a read counts live.
    behind: bool


def event_hour_counts(
    *, start: datetime, end: datetime, source_id: int | None = None
) -> HourCounts:
    """Events per hour, source and activity with event times in [start, end): the rollup,
    plus the events stored since its last run counted live (by primary key, up to
    `LIVE_LIMIT`). Two queries and a third for the mark."""
    mark = RollupMark.objects.filter(name=MARK).values_list("last_id", flat=True).first() or 0
    rows = EventHour.objects.filter(hour__gte=_hour(start), hour__lt=end)
    if source_id is not None:
        rows = rows.filter(source_id=source_id)
    found = [
        HourCount(hour, source, kind, name, count)
        for hour, source, kind, name, count in rows.values_list(
            "hour", "source_id", "type", "name", "count"
        )
    ]
    source_filter = "AND source_id = %s" if source_id is not None else ""
    params: list[int | datetime] = [mark, mark + LIVE_LIMIT, _hour(start), end]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT date_trunc('hour', timestamp, 'UTC'), source_id, type, {_ACTIVITY_NAME},
                   count(*)
            FROM ingestion_event
            WHERE id > %s AND id <= %s AND timestamp >= %s AND timestamp < %s {source_filter}
            GROUP BY 1, 2, 3, 4
            """,  # noqa: S608 - the interpolated text is constant
            params + ([source_id] if source_id is not None else []),
        )
        found += [HourCount(*row) for row in cursor.fetchall()]
        cursor.execute("SELECT max(id) FROM ingestion_event")
        newest = cursor.fetchone()[0] or 0
    return HourCounts(rows=found, behind=newest > mark + LIVE_LIMIT)


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
