"""Retention of events: how long events and their de-duplication keys are kept."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ingestion.models import Event

logger = logging.getLogger(__name__)


def events_retention_apply(*, now: datetime | None = None, batch_size: int = 10_000) -> int:
    """Delete events whose time is older than EVENT_RETENTION_DAYS (0 keeps them forever).

    Walks the events table by id range, one short statement per range, so no run holds a
    lock for long or reads more than one range at a time, whatever the table's size. Then
    removes the de-duplication keys (MessageKey) received before the same cutoff: a key
    only matters while a sender may still retry its message, and keeping keys for ever
    would grow a table that retention exists to bound.
    """
    days = settings.EVENT_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    events_table = Event._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM {events_table}")  # noqa: S608
        low, high = cursor.fetchone()
    deleted = 0
    if low is not None:
        for start in range(low, high + 1, batch_size):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {events_table} WHERE id >= %s AND id < %s "  # noqa: S608
                    "AND timestamp < %s",
                    [start, start + batch_size, cutoff],
                )
                deleted += cursor.rowcount
    keys = 0
    while True:
        # Keys are written in arrival order, so the oldest sit at the start of the primary
        # key: this reads only the rows it deletes.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                DELETE FROM ingestion_messagekey WHERE id IN (
                    SELECT id FROM ingestion_messagekey WHERE received_at < %s
                    ORDER BY id LIMIT %s)
                """,
                [cutoff, batch_size],
            )
            keys += cursor.rowcount
            if cursor.rowcount < batch_size:
                break
    if deleted or keys:
        logger.info(
            "event_retention_applied events=%d message_keys=%d cutoff=%s",
            deleted,
            keys,
            cutoff.isoformat(),
        )
    return deleted
