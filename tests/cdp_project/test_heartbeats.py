"""The scheduler's and the worker's heartbeats, and what `/health/` makes of them."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from cdp_project import heartbeats
from cdp_project.heartbeats import SCHEDULER, WORKER, heartbeat_record
from cdp_project.models import Heartbeat

pytestmark = pytest.mark.django_db

PERIOD = timedelta(seconds=10)


@pytest.fixture(autouse=True)
def _period(settings):
    settings.HEARTBEAT_SECONDS = 10


def _seen(name: str, ago: timedelta) -> None:
    heartbeat_record(name=name, now=timezone.now() - ago)


def test_health_is_ok_when_both_heartbeats_are_fresh(client):
    _seen(SCHEDULER, timedelta(seconds=3))
    _seen(WORKER, timedelta(seconds=12))  # late, but within twice the period
    body = client.get("/health/").json()
    assert body["status"] == "ok"
    assert body["reasons"] == []
    assert body["scheduler"]["ok"] is True
    assert body["worker"]["ok"] is True
    assert 11 <= body["worker"]["age_seconds"] < 20
    assert body["worker"]["last_seen"] == Heartbeat.objects.get(name=WORKER).seen_at.isoformat()


def test_health_is_degraded_with_the_reason_when_the_scheduler_is_stale(client):
    _seen(SCHEDULER, 2 * PERIOD + timedelta(seconds=5))
    _seen(WORKER, timedelta(seconds=1))
    response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["scheduler"]["ok"] is False
    assert body["worker"]["ok"] is True
    assert body["reasons"] == ["the scheduler (Celery beat) was last seen 25 s ago"]


def test_health_is_degraded_with_the_reason_when_the_worker_is_stale(client):
    _seen(SCHEDULER, timedelta(seconds=1))
    _seen(WORKER, timedelta(minutes=11))
    body = client.get("/health/").json()
    assert body["status"] == "degraded"
    assert body["worker"]["ok"] is False
    assert body["scheduler"]["ok"] is True
    assert body["reasons"] == [
        "the worker was last seen 11 min ago (stopped, or busy with long tasks)"
    ]


def test_a_heartbeat_goes_stale_as_time_passes(client):
    _seen(SCHEDULER, timedelta(0))
    _seen(WORKER, timedelta(0))
    assert client.get("/health/").json()["status"] == "ok"
    with time_machine.travel(timezone.now() + 2 * PERIOD + timedelta(seconds=1)):
        body = client.get("/health/").json()
    assert body["status"] == "degraded"
    assert len(body["reasons"]) == 2


def test_a_part_never_seen_is_late_only_once_the_stack_has_been_up_twice_the_period(
    client, monkeypatch
):
    monkeypatch.setattr(heartbeats, "PROCESS_STARTED_AT", timezone.now() - timedelta(seconds=5))
    body = client.get("/health/").json()
    assert body["status"] == "ok"
    assert body["worker"] == {
        "ok": True, "last_seen": None, "age_seconds": None, "period_seconds": 10
    }  # fmt: skip

    monkeypatch.setattr(heartbeats, "PROCESS_STARTED_AT", timezone.now() - timedelta(minutes=1))
    body = client.get("/health/").json()
    assert body["status"] == "degraded"
    assert body["reasons"] == [
        "the scheduler (Celery beat) has not been seen since the stack started",
        "the worker has not been seen since the stack started",
    ]


def test_heartbeat_record_keeps_one_row_per_part():
    heartbeat_record(name=WORKER)
    heartbeat_record(name=WORKER)
    heartbeat_record(name=SCHEDULER)
    assert Heartbeat.objects.count() == 2


def test_admin_lists_heartbeats_read_only(admin_client):
    heartbeat_record(name=WORKER)
    page = admin_client.get("/admin/cdp_project/heartbeat/")
    assert page.status_code == 200
    assert "worker" in page.content.decode()
    assert admin_client.get("/admin/cdp_project/heartbeat/add/").status_code == 403
