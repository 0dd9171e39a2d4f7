"""Shared counts add atomically, start over once expired, and expired ones are deleted."""

from __future__ import annotations

import os

import pytest
from django.db import connection
from django.test import override_settings

from cdp_project.core.counters import counter_add, counter_delete, counter_get, counters_expire

pytestmark = pytest.mark.django_db


def _rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM shared_counter")
        return cursor.fetchone()[0]


def test_a_count_adds_starts_over_once_expired_and_is_deleted_when_old():
    assert counter_add("a", 2, expires_at=110, now=100) == 2
    assert counter_add("a", 3, expires_at=110, now=105) == 5
    assert counter_get("a", now=109) == 5
    assert counter_get("a", now=110) == 0  # expired: reads as nothing
    assert counter_add("a", 1, expires_at=130, now=120) == 1  # and starts over
    counter_add("b", 1, expires_at=50, now=40)
    assert counters_expire(now=125) == 1
    assert _rows() == 1
    counter_delete("a")
    assert counter_get("a", now=121) == 0


def test_the_redis_backend_counts_the_same_way():
    url = os.environ.get("CDP_TEST_BROKER_URL", "")
    if not url.startswith("redis://"):
        if os.environ.get("CDP_REQUIRE_BROKER", "").lower() in ("1", "true", "yes"):
            pytest.fail("CDP_TEST_BROKER_URL is not a redis:// URL")
        pytest.skip("CDP_TEST_BROKER_URL is not a redis:// URL")
    import time

    import redis

    caches = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    now = time.time()
    with override_settings(CACHES=caches):
        counter_delete("test-redis")
        assert counter_add("test-redis", 2, expires_at=now + 60, now=now) == 2
        assert counter_add("test-redis", 3, expires_at=now + 60, now=now) == 5
        assert counter_get("test-redis", now=now) == 5
        ttl = redis.Redis.from_url(url).pttl("cdp:counter:test-redis")
        assert 0 < ttl <= 60_000
        counter_delete("test-redis")
        assert counter_get("test-redis", now=now) == 0
    assert _rows() == 0  # nothing went to Postgres
