"""The engine on a real Celery worker and beat against a real broker."""

from __future__ import annotations

import time

import pytest
from celery.beat import EmbeddedService
from django.core import mail

from campaigns import engine
from campaigns.defaults import campaigns_setup
from campaigns.models import Campaign, Message
from cdp_project.celery import app as celery_app
from tests.campaigns.conftest import identify, ordered
from tests.conftest import wait_for

pytestmark = pytest.mark.broker


@pytest.fixture
def beat(tmp_path):
    """Celery beat in a thread, running the campaigns' due work every second."""
    schedule = celery_app.conf.beat_schedule
    celery_app.conf.beat_schedule = {
        "campaigns-run-due": {"task": "campaigns.run_due", "schedule": 1.0}
    }
    service = EmbeddedService(
        celery_app, thread=True, max_interval=1, schedule_filename=str(tmp_path / "beat")
    )
    service.start()
    yield service
    service.stop()
    celery_app.conf.beat_schedule = schedule


def test_an_order_posted_to_the_api_is_confirmed_within_seconds(
    celery_worker, beat, ingest, monkeypatch
):
    campaigns_setup()
    Campaign.objects.filter(kind="order_confirmation").update(status=Campaign.Status.ACTIVE)
    # Beat alone: the nudge a worker sends itself after enrolling is switched off.
    monkeypatch.setattr(engine, "task_publish_on_commit", lambda name, **options: None)
    started = time.monotonic()

    response = ingest(
        "batch",
        {
            "batch": [
                {**identify("ann"), "messageId": "i-1"},
                {**ordered("ann", "o-1"), "messageId": "o-1"},
            ]
        },
    )

    assert response.status_code == 200
    wait_for(
        lambda: Message.objects.filter(status=Message.Status.SENT).exists(),
        timeout=20,
        what="the order confirmation to be sent",
    )
    assert time.monotonic() - started < 10
    [email] = mail.outbox
    assert email.to == ["ann@example.com"]
    assert email.subject == "Your order o-1 is confirmed"
