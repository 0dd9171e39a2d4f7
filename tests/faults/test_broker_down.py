"""The broker stops in the middle of a steady stream of ingest: the API keeps answering 2xx,
every acknowledged event is in Postgres, and once the broker is back the catalog, the
computed attributes and the campaigns catch up, with no message sent twice."""

from __future__ import annotations

import pytest

from campaigns.defaults import campaigns_setup
from campaigns.models import Campaign, Enrollment, Message
from ingestion.models import Activity, Event
from profiles.models import Profile
from tests.conftest import _use_broker, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SHOPPERS = 24


def shopper_batch(n: int) -> dict:
    user = f"shopper-{n}"
    return {
        "batch": [
            {"type": "identify", "userId": user, "messageId": f"{user}-i",
             "traits": {"email": f"{user}@example.com", "email_opt_in": True}},
            {"type": "track", "event": "Product Viewed", "userId": user, "messageId": f"{user}-v",
             "properties": {"sku": f"SKU-{n}", "price": 10}},
            {"type": "track", "event": "Order Completed", "userId": user, "messageId": f"{user}-o",
             "properties": {"order_id": f"O-{n}", "total": 10 + n,
                            "products": [{"sku": f"SKU-{n}", "price": 10 + n}]}},
        ]
    }  # fmt: skip


def test_a_broker_outage_mid_stream_loses_nothing_and_sends_each_message_once(
    worker_process, throwaway_redis, ingest, monkeypatch
):
    from cdp_project.core import publish

    campaigns_setup()
    Campaign.objects.filter(kind=Campaign.Kind.ORDER_CONFIRMATION).update(
        status=Campaign.Status.ACTIVE
    )
    _use_broker(throwaway_redis.url, {"socket_connect_timeout": 1, "max_retries": 0})
    monkeypatch.setattr(publish, "_broker_skip_until", 0.0)
    worker = worker_process(
        throwaway_redis.url,
        beat=True,
        INGEST_SWEEP_SECONDS="2",
        INGEST_SWEEP_GRACE_SECONDS="1",
        CAMPAIGNS_TICK_SECONDS="1",
    )
    worker.start()
    try:
        answers = []
        for n in range(SHOPPERS):
            if n == SHOPPERS // 3:
                throwaway_redis.stop()
            if n == 2 * SHOPPERS // 3:
                throwaway_redis.start()
            response = ingest("batch", shopper_batch(n))
            answers.append((response.status_code, response.json()["accepted"]))
        # The outage was real: a publish failed (the broker is skipped after one), and the
        # requests were answered all the same.
        assert publish.broker_skipped()
        # Every request was acknowledged, and what was acknowledged is stored.
        assert answers == [(200, 3)] * SHOPPERS
        assert Event.objects.count() == 3 * SHOPPERS

        wait_for(
            lambda: not Event.objects.filter(processed_at__isnull=True).exists(),
            timeout=90,
            what="the worker to catch up on the backlog",
        )
        wait_for(
            lambda: Message.objects.filter(status="sent").count() == SHOPPERS,
            timeout=60,
            what="one confirmation per order",
        )
    finally:
        _use_broker("memory://", {})
    assert Activity.objects.get(name="Order Completed").volume == SHOPPERS
    assert Activity.objects.get(name="Product Viewed").volume == SHOPPERS
    assert sorted(Profile.objects.values_list("orders_count", flat=True)) == [1] * SHOPPERS
    assert Enrollment.objects.count() == SHOPPERS
    assert Message.objects.count() == SHOPPERS
    assert len(set(Message.objects.values_list("recipient", flat=True))) == SHOPPERS
