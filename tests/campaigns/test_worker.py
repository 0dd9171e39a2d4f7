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


def test_a_journey_waiting_for_an_order_answers_it_within_seconds(celery_worker, beat, ingest):
    """The order wakes the wait on the worker that processes it; no timeout is waited."""
    from campaigns.journeys.services import journey_create, journey_draft_save, journey_publish
    from campaigns.services import campaign_status_set
    from cdp_project.access.actors import Actor
    from tests.campaigns.conftest import added

    actor = Actor.system("test")
    journey = journey_create(actor=actor, name="Thanks", template="blank")
    tree = {
        "trigger": {"kind": "activity", "activity": {"role": "product_added"}, "where": []},
        "start": "wait",
        "steps": [
            {
                "id": "wait",
                "type": "wait_for",
                "activity": {"role": "order_completed"},
                "match_keys": ["cart_id"],
                "timeout_seconds": 3600,
                "yes": "thanks",
                "timed_out": "",
            },
            {
                "id": "thanks",
                "type": "send",
                "transactional": True,
                "subject": "Thank you for your order",
                "text": "Thank you.",
            },
        ],
    }
    assert journey_draft_save(actor=actor, campaign=journey, definition=tree) == []
    journey_publish(actor=actor, campaign=journey)
    campaign_status_set(actor=actor, campaign=journey, status=Campaign.Status.ACTIVE)

    batch = [
        {**identify("ann"), "messageId": "i-1"},
        {**added("ann", "A", cart_id="c-1"), "messageId": "a-1"},
    ]
    assert ingest("batch", {"batch": batch}).status_code == 200
    wait_for(
        lambda: journey.enrollments.filter(node="wait").exists(),
        timeout=20,
        what="the person to enter and wait",
    )
    started = time.monotonic()
    order = {**ordered("ann", "o-9", cart_id="c-1"), "messageId": "o-9"}
    assert ingest("batch", {"batch": [order]}).status_code == 200
    wait_for(
        lambda: Message.objects.filter(campaign=journey, status=Message.Status.SENT).exists(),
        timeout=20,
        what="the thank-you email",
    )
    assert time.monotonic() - started < 10
    [email] = mail.outbox
    assert (email.to, email.subject) == (["ann@example.com"], "Thank you for your order")
