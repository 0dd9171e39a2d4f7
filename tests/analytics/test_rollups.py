"""The events-per-hour rollup: folded in by beat, never twice, never on the ingest path, and
current on every read through the live count of what it has not folded yet."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cdp_project.access.actors import Actor
from ingestion.models import EventHour, RollupMark
from ingestion.rollups import GRACE, event_hour_counts, event_hours_refresh
from tests.analytics.conftest import APP_EVENTS, NOW, WEB_EVENTS, send, track

pytestmark = pytest.mark.django_db


def total(**kwargs) -> int:
    return sum(row.count for row in event_hour_counts(**kwargs).rows)


def test_the_rollup_counts_by_hour_source_and_activity(store):
    web = store["web"]
    rows = {
        (row.hour.isoformat(), row.type, row.name): row.count
        for row in EventHour.objects.filter(source=web, hour__date="2026-06-10")
    }
    assert rows == {
        ("2026-06-10T08:00:00+00:00", "identify", ""): 1,
        ("2026-06-10T08:00:00+00:00", "track", "Checkout Started"): 1,
        ("2026-06-10T08:00:00+00:00", "track", "Order Completed"): 1,
        ("2026-06-10T09:00:00+00:00", "track", "Order Refunded"): 1,
        ("2026-06-10T10:00:00+00:00", "track", "Product Viewed"): 1,
        ("2026-06-10T10:00:00+00:00", "track", "Product Added"): 1,
        ("2026-06-10T10:00:00+00:00", "track", "Checkout Started"): 1,
        ("2026-06-10T11:00:00+00:00", "track", "Order Completed"): 1,
        ("2026-06-10T11:00:00+00:00", "track", "Product Viewed"): 1,
    }
    # A page call counts under its type, whatever the page's name.
    assert EventHour.objects.get(source=web, type="page").name == ""


def test_a_second_refresh_counts_nothing_twice(store):
    before = dict(EventHour.objects.values_list("pk", "count"))
    assert event_hours_refresh() == 0
    assert dict(EventHour.objects.values_list("pk", "count")) == before
    everything = total(start=NOW - timedelta(days=90), end=NOW + timedelta(hours=1))
    assert everything == len(WEB_EVENTS) + len(APP_EVENTS)


def test_new_events_count_live_until_folded_and_once_after(store, clock, client):
    since = NOW - timedelta(hours=2)
    assert total(start=since, end=NOW, source_id=store["app"].pk) == 0
    send_more(client, store)
    # Not folded yet (received just now, within the grace): counted live, by primary key.
    assert event_hours_refresh() == 0
    assert total(start=since, end=NOW + timedelta(hours=1), source_id=store["app"].pk) == 2
    clock.move_to(NOW + GRACE + timedelta(seconds=1))
    assert event_hours_refresh() == 2
    assert RollupMark.objects.get().last_id > 0
    assert total(start=since, end=NOW + timedelta(hours=1), source_id=store["app"].pk) == 2
    hour = EventHour.objects.get(
        source=store["app"], name="Product Viewed", hour=NOW.replace(minute=0)
    )
    assert hour.count == 2


def send_more(client, store) -> None:
    send(
        client,
        store["app"],
        [
            {**track({"userId": "zed"}, "Product Viewed", "2026-06-10 12:10"), "messageId": "z1"},
            {**track({"userId": "zed"}, "Product Viewed", "2026-06-10 12:20"), "messageId": "z2"},
        ],
    )


def test_ingest_writes_no_rollup(db, client):
    from ingestion import services

    source = services.source_create(actor=Actor.system("test"), name="Quiet")
    send(client, source, [track({"userId": "u"}, "Product Viewed", "2026-06-10 12:00")])
    assert not EventHour.objects.exists()
    assert not RollupMark.objects.exists()


def test_beat_runs_the_refresh_every_minute(store, clock, client):
    from django.conf import settings

    from cdp_project.celery import app
    from ingestion import tasks  # noqa: F401 - registers the app's tasks, as a worker does

    entry = settings.CELERY_BEAT_SCHEDULE["ingestion-event-hours-refresh"]
    assert entry["schedule"] == timedelta(seconds=60)
    task = app.tasks[entry["task"]]
    send_more(client, store)
    clock.move_to(NOW + GRACE + timedelta(seconds=1))
    assert task.apply().get() == 2
