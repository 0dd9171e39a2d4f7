"""How processing reads and locks a batch: by primary key, so a batch costs the same with a
large backlog as without one, and only the events it processes."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ingestion import services
from ingestion.models import Event

BACKLOG = 20_000


@pytest.mark.django_db
def test_a_batch_is_read_by_primary_key_whatever_the_planner_believes_of_the_backlog(source):
    # Statistics gathered while the workers kept up (every event processed), then a backlog
    # the planner has not seen: a query filtering on `processed_at IS NULL` is then planned
    # with the `event_unprocessed` index, which it reads whole, backlog and all, each batch.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO ingestion_event (source_id, message_id, type, name, user_id,
                anonymous_id, timestamp, received_at, properties, traits, context, extra,
                flags, processed_at)
            SELECT %s, 'backlog-' || n, 'track', 'Product Viewed', '', 'visitor-' || n,
                now(), now(), '{}', '{}', '{}', '{}', '[]', now()
            FROM generate_series(1, %s) AS n
            """,
            [source.pk, BACKLOG],
        )
        cursor.execute("ANALYZE ingestion_event")
        cursor.execute("UPDATE ingestion_event SET processed_at = NULL")
    ids = list(Event.objects.order_by("pk").values_list("pk", flat=True)[5_000:5_100])

    with CaptureQueriesContext(connection) as queries:
        assert services.events_process(event_ids=ids) == 100

    reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and 'FROM "ingestion_event"' in q["sql"]
    ]
    assert len(reads) >= 2  # the profiles to lock, then the events themselves
    with connection.cursor() as cursor:
        for sql in reads:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "event_unprocessed" not in plan, plan
    assert Event.objects.filter(pk__in=ids, processed_at__isnull=True).count() == 0
    assert Event.objects.filter(processed_at__isnull=True).count() == BACKLOG - 100


_PROBE: dict = {}


def probe_locks(events: list[Event]) -> None:
    """A processor that asks, from a second connection, whether the processing transaction
    holds the processed event's row or its profile."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        for table, pk in (
            ("ingestion_event", _PROBE["event"]),
            ("profiles_profile", _PROBE["profile"]),
        ):
            try:
                other.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [pk])  # noqa: S608
                _PROBE[table] = "free"
            except psycopg.errors.LockNotAvailable:
                _PROBE[table] = "locked"


def test_an_event_already_processed_in_a_batch_is_left_unlocked(transactional_db, ingest, settings):
    # A task and the sweep can hand the same event over twice: the second time it is
    # processed already, and locking it would hold a row of a profile not locked first,
    # against the order merges and deletions take them in.
    batch = [
        {"type": "track", "userId": user, "event": "Product Viewed", "messageId": user}
        for user in ("ann", "bob")
    ]
    assert ingest("batch", {"batch": batch}).status_code == 200
    ann, bob = (Event.objects.get(message_id=user) for user in ("ann", "bob"))
    assert services.events_process(event_ids=[bob.pk]) == 1
    _PROBE.clear()
    _PROBE.update(event=bob.pk, profile=bob.profile_id)
    settings.INGEST_EVENT_PROCESSORS = [f"{__name__}.probe_locks"]

    assert services.events_process(event_ids=[ann.pk, bob.pk]) == 1

    assert _PROBE["ingestion_event"] == "free"
    assert _PROBE["profiles_profile"] == "free"
    assert Event.objects.filter(processed_at__isnull=True).count() == 0
