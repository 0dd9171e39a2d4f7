"""Rate limits per write key: how many events one key may send in a window.

Fixed windows counted in Django's cache (`CACHE_URL`): with Redis every web process shares
the counts; with the default in-process cache each process counts its own share, so the
limit holds per process. One cache operation per request on the hot path.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    # When the window ends, in seconds since the epoch, and how long that is from now.
    reset_at: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        if not self.limit:
            return {}
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


UNLIMITED = RateDecision(allowed=True, limit=0, remaining=0, reset_at=0, retry_after=0)


def write_key_rate_take(*, key: str, events: int, now: float | None = None) -> RateDecision:
    """Count `events` against the key's window; refused events are not counted."""
    limit = settings.INGEST_RATE_LIMIT_EVENTS
    if limit <= 0:
        return UNLIMITED
    window = max(1, settings.INGEST_RATE_LIMIT_WINDOW_SECONDS)
    now = time.time() if now is None else now
    start = int(now // window) * window
    reset_at = start + window
    bucket = f"ingest-rate:{hashlib.sha256(key.encode()).hexdigest()[:32]}:{start}"
    events = max(1, events)
    try:
        used = cache.incr(bucket, events)
    except ValueError:  # the window's first request
        if cache.add(bucket, events, timeout=window + 5):
            used = events
        else:
            used = cache.incr(bucket, events)
    retry_after = max(1, int(reset_at - now + 0.999))
    if used > limit:
        with contextlib.suppress(ValueError):  # the window ended meanwhile
            cache.decr(bucket, events)
        remaining = max(0, limit - (used - events))
        return RateDecision(False, limit, remaining, reset_at, retry_after)
    return RateDecision(True, limit, limit - used, reset_at, retry_after)
