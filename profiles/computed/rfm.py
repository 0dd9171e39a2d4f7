"""RFM scores: every customer with orders scored 1 to 5 on recency, frequency and money,
relative to the others, on a schedule."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)


def profiles_rfm_refresh(*, now: datetime | None = None) -> int:
    """Score every customer with orders 1 to 5 on recency, frequency and money.

    The rule (docs/profiles.md): over all profiles with at least one standing order, each
    measure is ranked (`percent_rank`, so equal values get equal scores) and cut into five
    equal bands: score = 1 + floor(percent_rank * 5), at most 5. Recency ranks the last
    order time (most recent = 5), frequency the number of orders, money the net revenue.
    Profiles without orders have no score.
    """
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH ranked AS (
                SELECT id,
                       least(5, 1 + floor(percent_rank() OVER (ORDER BY last_order_at) * 5))
                           AS r,
                       least(5, 1 + floor(percent_rank() OVER (ORDER BY orders_count) * 5))
                           AS f,
                       least(5, 1 + floor(percent_rank() OVER (ORDER BY revenue) * 5)) AS m
                  FROM profiles_profile
                 WHERE orders_count > 0 AND last_order_at IS NOT NULL
            )
            UPDATE profiles_profile p
               SET rfm_recency = ranked.r, rfm_frequency = ranked.f, rfm_monetary = ranked.m,
                   rfm_score = ranked.r::int::text || ranked.f::int::text || ranked.m::int::text,
                   rfm_at = %s
              FROM ranked
             WHERE p.id = ranked.id
            """,
            [now],
        )
        scored = cursor.rowcount
        cursor.execute(
            """
            UPDATE profiles_profile
               SET rfm_recency = NULL, rfm_frequency = NULL, rfm_monetary = NULL,
                   rfm_score = '', rfm_at = %s
             WHERE rfm_score <> '' AND NOT (orders_count > 0 AND last_order_at IS NOT NULL)
            """,
            [now],
        )
    logger.info("profiles_rfm_refreshed scored=%s", scored)
    return scored
