"""Rate limits per write key: how many events one key may send in a window.

Fixed windows, counted where every web process counts together (`cdp_project.core.counters`:
Redis when `CACHE_URL` is Redis, else a Postgres table), so the limit holds for the key
whichever process answers. One atomic round trip per request on the hot path; a refused
request takes its events back with a second.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings

from cdp_project.core.counters import counter_add


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
    used = counter_add(bucket, events, expires_at=reset_at + 5, now=now)
    retry_after = max(1, int(reset_at - now + 0.999))
    if used > limit:
        counter_add(bucket, -events, expires_at=reset_at + 5, now=now)
        remaining = max(0, limit - (used - events))
        return RateDecision(False, limit, remaining, reset_at, retry_after)
    return RateDecision(True, limit, limit - used, reset_at, retry_after)
