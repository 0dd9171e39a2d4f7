"""A real beat and a real worker, each in a process of its own on the embedded filesystem
broker, record their heartbeats; a killed beat shows on `/health/` as `degraded`, and a
restarted one makes it `ok` again."""

from __future__ import annotations

import os
import signal

import pytest
from django.utils import timezone

from cdp_project.celery import app as celery_app
from cdp_project.heartbeats import SCHEDULER, WORKER
from cdp_project.models import Heartbeat
from tests.conftest import wait_for

pytestmark = pytest.mark.slow


def _seen_at(name: str):
    return Heartbeat.objects.filter(name=name).values_list("seen_at", flat=True).first()


def test_a_beat_process_records_its_own_heartbeat(stack):
    beat = stack.beat()
    started = timezone.now()
    wait_for(
        lambda: (_seen_at(SCHEDULER) or started) > started or beat.poll() is not None,
        timeout=60, what="beat's heartbeat",
    )  # fmt: skip
    assert beat.poll() is None, stack.log("beat.log")
    first = _seen_at(SCHEDULER)
    wait_for(lambda: _seen_at(SCHEDULER) > first, timeout=20, what="a later heartbeat")
    assert _seen_at(WORKER) is None  # beat alone: no worker ran the heartbeat task


def test_a_worker_records_its_heartbeat_when_it_runs_the_heartbeat_task(stack):
    worker = stack.worker()
    celery_app.send_task("cdp.heartbeat")
    wait_for(
        lambda: _seen_at(WORKER) is not None or worker.poll() is not None,
        timeout=60, what="the worker's heartbeat",
    )  # fmt: skip
    assert worker.poll() is None, stack.log("worker.log")
    assert _seen_at(SCHEDULER) is None


def test_health_follows_a_killed_and_restarted_beat(stack, client):
    def status() -> dict:
        return client.get("/health/").json()

    beat, worker = stack.beat(), stack.worker()
    wait_for(lambda: status()["status"] == "ok" and _seen_at(WORKER) is not None,
             timeout=90, what="both heartbeats")  # fmt: skip

    os.killpg(beat.pid, signal.SIGKILL)
    beat.wait(timeout=10)
    wait_for(lambda: status()["status"] == "degraded", timeout=30, what="degraded")
    body = status()
    assert body["scheduler"]["ok"] is False
    assert body["reasons"][0].startswith("the scheduler (Celery beat) was last seen")
    # With no beat, nothing sends the worker's heartbeat task either: it goes stale next,
    # and the reason says why.
    wait_for(lambda: not status()["worker"]["ok"], timeout=30, what="the worker going stale")
    assert "and is down too" in status()["reasons"][1]
    assert worker.poll() is None

    stack.beat()
    wait_for(lambda: status()["status"] == "ok", timeout=30, what="ok after the restart")
