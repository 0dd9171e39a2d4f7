"""Counts every process shares: failed logins, events per write key.

Each web process has its own memory, so a count kept there (Django's default in-process
cache) lets four processes take four times the limit. These counts live in one place all
of them reach: Redis when the cache is Redis (`CACHE_URL=redis://…`), else Postgres, in an
UNLOGGED table (`shared_counter`). Every change is one atomic statement that adds and
returns the new total (Redis INCRBY with its expiry in one MULTI; Postgres INSERT … ON
CONFLICT DO UPDATE … RETURNING), never a read then a write that two processes interleave.

A count lasts until `expires_at` (seconds since the epoch, the caller's clock); adding to
an expired count starts it over. Each change is one round trip.
"""

from __future__ import annotations

import random
from functools import cache

import redis
from django.conf import settings
from django.db import connection

from cdp_project.core.prepared import prepared_cursor

_PREFIX = "cdp:counter:"
# The Postgres table keeps expired counts until a later add deletes them, about once in
# this many adds.
_EXPIRE_EVERY = 200

_ADD = """
INSERT INTO shared_counter AS c (name, value, expires_at) VALUES (%s, %s, %s)
ON CONFLICT (name) DO UPDATE SET
    value = CASE WHEN c.expires_at <= %s THEN EXCLUDED.value ELSE c.value + EXCLUDED.value END,
    expires_at = EXCLUDED.expires_at
RETURNING value
"""
_GET = "SELECT value FROM shared_counter WHERE name = %s AND expires_at > %s"


def _redis_location() -> str | None:
    config = settings.CACHES.get("default", {})
    if "redis" not in str(config.get("BACKEND", "")).lower():
        return None
    location = config.get("LOCATION")
    if isinstance(location, list | tuple):
        location = location[0]
    return str(location).split(",")[0]


@cache
def _redis(location: str) -> redis.Redis:
    return redis.Redis.from_url(location, socket_timeout=2, socket_connect_timeout=2)


def counter_add(name: str, amount: int, *, expires_at: float, now: float) -> int:
    """Add `amount` to the count `name` (from 0 if absent or expired); the count now lasts
    until `expires_at`. Returns the new total."""
    location = _redis_location()
    if location is not None:
        pipe = _redis(location).pipeline(transaction=True)
        pipe.incrby(_PREFIX + name, amount)
        pipe.pexpireat(_PREFIX + name, int(expires_at * 1000))
        total, _ = pipe.execute()
        return int(total)
    with prepared_cursor() as cursor:
        cursor.execute(_ADD, [name, amount, expires_at, now])
        total = cursor.fetchone()[0]
    if random.random() < 1 / _EXPIRE_EVERY:
        counters_expire(now=now)
    return int(total)


def counter_get(name: str, *, now: float) -> int:
    location = _redis_location()
    if location is not None:
        value = _redis(location).get(_PREFIX + name)
        return int(value) if value is not None else 0
    with connection.cursor() as cursor:
        cursor.execute(_GET, [name, now])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def counter_delete(name: str) -> None:
    location = _redis_location()
    if location is not None:
        _redis(location).delete(_PREFIX + name)
        return
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM shared_counter WHERE name = %s", [name])


def counters_expire(*, now: float) -> int:
    """Delete the Postgres counts that have expired (Redis expires its own)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM shared_counter WHERE expires_at <= %s", [now])
        deleted: int = cursor.rowcount
        return deleted
