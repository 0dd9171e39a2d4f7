"""A write key sending too much gets 429 with when to retry, and nothing of that request is
stored; the limit is per key and per window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache

from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.models import Event

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 20, 12, 0, 1, tzinfo=UTC)


def batch(*ids: str) -> dict:
    return {"batch": [{"type": "track", "event": "E", "userId": "u", "messageId": m} for m in ids]}


@pytest.fixture
def limited(settings):
    settings.INGEST_RATE_LIMIT_EVENTS = 5
    settings.INGEST_RATE_LIMIT_WINDOW_SECONDS = 10
    cache.clear()
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller
    cache.clear()


def test_over_the_limit_gets_429_with_retry_after_and_stores_nothing(ingest, limited):
    first = ingest("batch", batch("a", "b"))
    assert first.status_code == 200
    assert first["X-RateLimit-Limit"] == "5"
    assert first["X-RateLimit-Remaining"] == "3"
    assert ingest("batch", batch("c", "d")).status_code == 200

    refused = ingest("batch", batch("e", "f"))
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "rate_limited"
    assert "Retry after 9 s" in body["message"]
    assert refused["Retry-After"] == "9"
    window_end = int(START.timestamp()) // 10 * 10 + 10
    assert refused["X-RateLimit-Reset"] == str(window_end)
    assert refused["X-RateLimit-Remaining"] == "1"
    assert Event.objects.count() == 4

    # What is left of the window still fits one event; the next window starts afresh.
    assert ingest("track", {"type": "track", "event": "E", "userId": "u"}).status_code == 200
    limited.move_to(START + timedelta(seconds=10))
    retried = ingest("batch", batch("e", "f"))
    assert retried.status_code == 200
    assert Event.objects.count() == 7


def test_the_limit_is_per_write_key(ingest, limited, write_key):
    other = services.write_key_create(actor=Actor.system("test"), source=write_key.source)
    assert ingest("batch", batch("a", "b", "c", "d", "e")).status_code == 200
    assert ingest("batch", batch("f")).status_code == 429
    assert ingest("batch", batch("g"), key=other.key).status_code == 200


def test_no_limit_when_turned_off(ingest, settings):
    settings.INGEST_RATE_LIMIT_EVENTS = 0
    response = ingest("batch", batch(*[f"m{n}" for n in range(50)]))
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response
