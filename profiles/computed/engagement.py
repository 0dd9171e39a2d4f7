"""The engagement score: points per event, halving every `ENGAGEMENT_HALF_LIFE_DAYS` without
activity, kept as of its newest event and decayed to now on a schedule; and the points of the
last weeks."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from profiles.models import Profile

ENGAGEMENT_WEEKS_KEPT = 12


def week_of(at: datetime) -> str:
    day = timezone.localtime(at).date()
    return (day - timedelta(days=day.weekday())).isoformat()


def decay(days: float) -> float:
    return math.pow(0.5, days / settings.ENGAGEMENT_HALF_LIFE_DAYS)


def engagement_sum(
    a: tuple[float, datetime | None], b: tuple[float, datetime | None]
) -> tuple[float, datetime | None]:
    times = [at for _, at in (a, b) if at is not None]
    if not times:
        return 0.0, None
    latest = max(times)
    total = 0.0
    for score, at in (a, b):
        if at is not None:
            total += score * decay((latest - at).total_seconds() / 86400)
    return total, latest


def profiles_engagement_decay(*, now: datetime | None = None) -> int:
    """Decay every score to now, so that segments compare scores of one time (one
    statement; Celery beat runs it hourly)."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE profiles_profile
               SET engagement_score = engagement_score
                       * power(0.5, extract(epoch FROM (%s - engagement_at)) / 86400.0 / %s),
                   engagement_at = %s
             WHERE engagement_at < %s AND engagement_score <> 0
            """,
            [now, float(settings.ENGAGEMENT_HALF_LIFE_DAYS), now, now],
        )
        return cursor.rowcount


def engagement_now(profile: Profile, *, now: datetime | None = None) -> float:
    """The profile's engagement score decayed to now."""
    if profile.engagement_at is None:
        return 0.0
    days = max(((now or timezone.now()) - profile.engagement_at).total_seconds(), 0) / 86400
    return profile.engagement_score * decay(days)
