"""Segment entry and broadcasts on a real Celery worker (and beat) against a real broker."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from celery.beat import EmbeddedService
from django.core import mail
from django.utils import timezone

from campaigns.models import Enrollment, JourneyRun, Message, StepRun
from cdp_project.celery import app as celery_app
from tests.campaigns.conftest import identify
from tests.campaigns.test_journey_triggers import make_journey, members, vip_segment
from tests.conftest import wait_for

pytestmark = pytest.mark.broker


@pytest.fixture
def beat(tmp_path):
    """Celery beat in a thread, running the journeys' tick and the due work every second."""
    schedule = celery_app.conf.beat_schedule
    celery_app.conf.beat_schedule = {
        "campaigns-journeys-tick": {"task": "campaigns.journeys_tick", "schedule": 1.0},
        "campaigns-run-due": {"task": "campaigns.run_due", "schedule": 1.0},
    }
    service = EmbeddedService(
        celery_app, thread=True, max_interval=1, schedule_filename=str(tmp_path / "beat")
    )
    service.start()
    yield service
    service.stop()
    celery_app.conf.beat_schedule = schedule


def test_an_event_that_puts_a_person_in_a_segment_runs_the_first_step_within_seconds(
    celery_worker, ingest
):
    """No beat: the batch's own check enrolls, and the enrollment's own nudge runs it."""
    segment = vip_segment()
    campaign = make_journey({"kind": "segment", "segment": segment.pk, "on": "entry"})
    started = time.monotonic()

    response = ingest("batch", {"batch": [{**identify("ann", tier="vip"), "messageId": "i-1"}]})

    assert response.status_code == 200
    wait_for(
        lambda: Message.objects.filter(campaign=campaign, status=Message.Status.SENT).exists(),
        timeout=20,
        what="the segment journey's email to be sent",
    )
    assert time.monotonic() - started < 5
    [enrollment] = Enrollment.objects.filter(campaign=campaign)
    assert enrollment.key.startswith("segment:")
    assert StepRun.objects.get(enrollment=enrollment).outcome == StepRun.Outcome.SENT
    assert [email.to for email in mail.outbox] == [["ann@example.com"]]


def test_a_broadcast_scheduled_seconds_ahead_sends_once_to_each_member(celery_worker, beat):
    segment = vip_segment()
    members(30)
    start = (timezone.now() + timedelta(seconds=3)).replace(microsecond=0)
    campaign = make_journey(
        {"kind": "broadcast", "segment": segment.pk, "start": start.isoformat(), "repeat": "none"}
    )

    wait_for(
        lambda: Message.objects.filter(campaign=campaign, status=Message.Status.SENT).count() == 30,
        timeout=40,
        what="the broadcast to reach the 30 members",
    )
    run = JourneyRun.objects.get(campaign=campaign)
    assert run.run_at == start
    assert (run.enrolled, run.finished_at is not None) == (30, True)
    assert run.started_at >= start
    time.sleep(3)  # more ticks: nothing runs again
    assert JourneyRun.objects.filter(campaign=campaign).count() == 1
    assert len(mail.outbox) == 30
    assert len({email.to[0] for email in mail.outbox}) == 30
