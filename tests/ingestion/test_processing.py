"""Follow-up processing on a real Celery worker and broker, and the catch-up sweep."""

from __future__ import annotations

import logging

import pytest
from django.db import OperationalError, connection

from cdp_project.celery import app as celery_app
from cdp_project.core import publish
from ingestion import services, tasks
from ingestion.models import Activity, Event
from tests.conftest import _use_broker, wait_for

pytestmark = pytest.mark.broker


def _batch(*message_ids: str) -> dict:
    return {
        "batch": [
            {"type": "track", "userId": "u", "event": "Product Viewed", "messageId": m}
            for m in message_ids
        ]
    }


def test_worker_processes_events_after_commit(celery_worker, ingest):
    response = ingest("batch", _batch("a", "b"))

    assert response.status_code == 200
    wait_for(
        lambda: not Event.objects.filter(processed_at__isnull=True).exists(),
        what="the worker to process the events",
    )
    assert Event.objects.filter(processed_at__isnull=False).count() == 2
    # The catalog learned the activity in the same step.
    assert Activity.objects.get(name="Product Viewed").volume == 2


def test_broker_outage_loses_nothing_and_the_sweep_catches_up(
    broker, transactional_db, ingest, settings, monkeypatch
):
    real_broker = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    # The broker goes away: nothing listens on port 1.
    _use_broker("redis://127.0.0.1:1/0", {"socket_connect_timeout": 1, "max_retries": 0})
    monkeypatch.setattr(publish, "_broker_skip_until", 0.0)

    first = ingest("batch", _batch("m1", "m2"))
    second = ingest("batch", _batch("m3"))  # the broker is skipped after the failure

    assert first.status_code == second.status_code == 200
    assert Event.objects.filter(processed_at__isnull=True).count() == 3

    # The broker is back; the periodic sweep (sent here instead of waiting for beat)
    # processes what was never published.
    _use_broker(*real_broker)
    settings.INGEST_SWEEP_GRACE = settings.INGEST_SWEEP_GRACE * 0
    from celery.contrib.testing.worker import start_worker

    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
        tasks.sweep_unprocessed_events.delay()
        wait_for(
            lambda: not Event.objects.filter(processed_at__isnull=True).exists(),
            what="the sweep to process the backlog",
        )
    assert Event.objects.count() == 3


def test_processing_twice_processes_each_event_once(transactional_db, ingest, settings):
    settings.INGEST_EVENT_PROCESSORS = ["tests.ingestion.test_processing.record_processor"]
    RECORDED.clear()
    ingest("batch", _batch("x", "y"))
    ids = list(Event.objects.values_list("pk", flat=True))

    assert services.events_process(event_ids=ids) == 2
    assert services.events_process(event_ids=ids) == 0
    assert sorted(ids) == RECORDED[0]
    assert len(RECORDED) == 1


def test_sweep_leaves_fresh_events_to_their_task(transactional_db, ingest):
    ingest("batch", _batch("fresh"))
    assert services.events_sweep_unprocessed() == 0
    assert Event.objects.get().processed_at is None


RECORDED: list[list[int]] = []


def record_processor(events: list[Event]) -> None:
    RECORDED.append([event.pk for event in events])


def refuse_poison(events) -> None:
    RECORDED.append(sorted(event.pk for event in events))
    if any(event.name == "Poison" for event in events):
        raise ValueError("a processor cannot handle this event")


def test_an_event_a_processor_fails_on_is_set_aside_and_the_rest_processed(
    transactional_db, ingest, settings, caplog
):
    settings.INGEST_EVENT_PROCESSORS = ["tests.ingestion.test_processing.refuse_poison"]
    RECORDED.clear()
    ingest(
        "batch",
        {
            "batch": [
                {"type": "track", "userId": "u", "event": name, "messageId": name}
                for name in ("A", "Poison", "B")
            ]
        },
    )
    ids = list(Event.objects.values_list("pk", flat=True))

    assert services.events_process(event_ids=ids) == 3
    assert not Event.objects.filter(processed_at__isnull=True).exists()
    assert Event.objects.get(name="Poison").flags == ["processing_failed"]
    assert Event.objects.get(name="A").flags == []
    assert "ingest_processing_failed" in caplog.text
    # The whole batch first, then one event at a time.
    assert RECORDED[0] == sorted(ids) and len(RECORDED) == 4


def deadlock_once(events) -> None:
    """Ended by Postgres the first time, as the loser of a deadlock is."""
    RECORDED.append(sorted(event.pk for event in events))
    if len(RECORDED) == 1:
        with connection.cursor() as cursor:
            cursor.execute(
                "DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' "
                "USING ERRCODE = 'deadlock_detected'; END $$"
            )
    Event.objects.filter(pk__in=[event.pk for event in events]).update(flags=["seen"])


def test_a_batch_postgres_ends_for_a_deadlock_is_tried_again(
    transactional_db, ingest, settings, caplog
):
    settings.INGEST_EVENT_PROCESSORS = ["tests.ingestion.test_processing.deadlock_once"]
    RECORDED.clear()
    ingest("batch", _batch("a", "b"))
    ids = list(Event.objects.values_list("pk", flat=True))

    with caplog.at_level(logging.INFO, logger="ingestion.services"):
        assert services.events_process(event_ids=ids) == 2

    assert [sorted(ids), sorted(ids)] == RECORDED
    assert not Event.objects.filter(processed_at__isnull=True).exists()
    # Only the second try's work stands, once.
    assert list(Event.objects.values_list("flags", flat=True)) == [["seen"], ["seen"]]
    assert "ingest_processing_retried attempt=1 sqlstate=40P01 events=2" in caplog.text


def always_deadlocked(events) -> None:
    RECORDED.append(sorted(event.pk for event in events))
    with connection.cursor() as cursor:
        cursor.execute(
            "DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' "
            "USING ERRCODE = 'deadlock_detected'; END $$"
        )


def test_a_batch_deadlocked_every_time_is_left_to_the_sweep(transactional_db, ingest, settings):
    settings.INGEST_EVENT_PROCESSORS = ["tests.ingestion.test_processing.always_deadlocked"]
    RECORDED.clear()
    ingest("batch", _batch("a"))
    ids = list(Event.objects.values_list("pk", flat=True))

    with pytest.raises(OperationalError):
        services.events_process(event_ids=ids)

    assert len(RECORDED) == services.PROCESS_ATTEMPTS
    assert Event.objects.get().processed_at is None
