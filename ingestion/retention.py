"""Retention of events: how long each source's events and their de-duplication keys are kept.

A source keeps its events for its own `retention_days`, or the site's EVENT_RETENTION_DAYS
when it has none (0: for ever). Celery beat runs `events_retention_apply` every night.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from ingestion.models import Event, Source

logger = logging.getLogger(__name__)

# One id range of the events table: the events older than their source's cutoff go, then
# the oldest event each source keeps in the range is read (in the same transaction, so it
# sees the range as the delete left it).
_CUTOFFS = "SELECT * FROM unnest(%s::bigint[], %s::timestamptz[]) AS c(source_id, cutoff)"
_DELETE_RANGE = f"""
    DELETE FROM ingestion_event e USING ({_CUTOFFS}) AS c
    WHERE e.id >= %s AND e.id < %s AND e.source_id = c.source_id AND e.timestamp < c.cutoff
"""  # noqa: S608 - our own constant
_OLDEST_IN_RANGE = """
    SELECT source_id, min(timestamp) FROM ingestion_event
    WHERE id >= %s AND id < %s GROUP BY source_id
"""


def source_cutoffs(*, now: datetime) -> dict[int, datetime]:
    """Per source that keeps its events for a limited time, the time before which its events
    are deleted."""
    return {
        source.pk: now - timedelta(days=source.retention_days_applied)
        for source in Source.objects.only("id", "retention_days")
        if source.retention_days_applied > 0
    }


def events_retention_apply(*, now: datetime | None = None, batch_size: int = 10_000) -> int:
    """Delete every source's events older than it keeps them (`Source.retention_days`, or
    EVENT_RETENTION_DAYS), and record each source's oldest event kept.

    Walks the events table by id range, one short transaction per range, so no run holds a
    lock for long or reads more than one range at a time, whatever the table's size. Then
    removes the de-duplication keys (MessageKey) each source received before its cutoff: a
    key only matters while a sender may still retry its message, and keeping keys for ever
    would grow a table that retention exists to bound. Nothing runs while no source has a
    limit. Returns how many events were deleted.
    """
    now = now or timezone.now()
    cutoffs = source_cutoffs(now=now)
    if not cutoffs:
        return 0
    ids = sorted(cutoffs)
    times = [cutoffs[pk] for pk in ids]
    events_table = Event._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM {events_table}")  # noqa: S608
        low, high = cursor.fetchone()
    deleted = 0
    oldest: dict[int, datetime] = {}
    if low is not None:
        for start in range(low, high + 1, batch_size):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_DELETE_RANGE, [ids, times, start, start + batch_size])
                deleted += cursor.rowcount
                cursor.execute(_OLDEST_IN_RANGE, [start, start + batch_size])
                for source_id, at in cursor.fetchall():
                    if source_id not in oldest or at < oldest[source_id]:
                        oldest[source_id] = at
    _record_oldest(oldest, now)
    keys = sum(_message_keys_delete(pk, cutoffs[pk], batch_size) for pk in ids)
    if deleted or keys:
        logger.info(
            "event_retention_applied events=%d message_keys=%d sources=%d",
            deleted,
            keys,
            len(ids),
        )
    return deleted


def _record_oldest(oldest: dict[int, datetime], now: datetime) -> None:
    """What the Sources page shows: each source's oldest event kept, as of this run."""
    sources = list(Source.objects.only("id", "oldest_event_at", "retention_checked_at"))
    for source in sources:
        source.oldest_event_at = oldest.get(source.pk)
        source.retention_checked_at = now
    Source.objects.bulk_update(sources, ["oldest_event_at", "retention_checked_at"])


def _message_keys_delete(source_id: int, cutoff: datetime, batch_size: int) -> int:
    keys = 0
    while True:
        # Keys are written in arrival order: the oldest sit at the start of the primary key.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                DELETE FROM ingestion_messagekey WHERE id IN (
                    SELECT id FROM ingestion_messagekey
                    WHERE source_id = %s AND received_at < %s
                    ORDER BY id LIMIT %s)
                """,
                [source_id, cutoff, batch_size],
            )
            keys += cursor.rowcount
            if cursor.rowcount < batch_size:
                return keys
