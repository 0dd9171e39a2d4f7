"""Retention: weekly cohorts of new customers and the share who ordered again.

A customer's cohort is the week of their first order (weeks start on Monday, in the site's
time zone). For each later week, the cohort's share is the part of its customers who placed
at least one order that week. Every order counts but cancelled ones: a refunded order was
still a customer coming back to buy. Orders are read from profiles' `Order` table (one row
per order id, moved to the survivor on a merge), so a visitor who ordered anonymously and
later signed in is one customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from profiles.models import Order

WEEKS = 12


@dataclass(frozen=True)
class Cohort:
    week: date
    size: int
    # Customers who ordered again in each later week (1, 2, …), up to the current week.
    returned: list[int]

    weeks: int = WEEKS

    @property
    def shares(self) -> list[float]:
        return [count / self.size if self.size else 0.0 for count in self.returned]

    @property
    def pending(self) -> range:
        """The later weeks that have not begun yet: the empty cells of the row."""
        return range(self.weeks - 1 - len(self.returned))


@dataclass(frozen=True)
class Retention:
    weeks: int
    cohorts: list[Cohort]

    @property
    def offsets(self) -> list[int]:
        return list(range(1, self.weeks))

    @property
    def leading_empty(self) -> int:
        """The oldest weeks before the first with a new customer (a store younger than the
        period asked for): left out of the grid, which starts with the first real cohort."""
        for n, cohort in enumerate(self.cohorts):
            if cohort.size:
                return n
        return len(self.cohorts)

    @property
    def shown(self) -> list[Cohort]:
        return self.cohorts[self.leading_empty :]

    @property
    def peak(self) -> float:
        return max((share for c in self.cohorts for share in c.shares), default=0.0)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def retention_cohorts(*, weeks: int = WEEKS, today: date | None = None) -> Retention:
    """The cohorts of the last `weeks` weeks (the current one included), oldest first. One
    query over the orders (the first order of each customer needs all of their orders)."""
    today = today or timezone.localdate()
    current = week_start(today)
    first = current - timedelta(weeks=weeks - 1)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH o AS (
                SELECT profile_id,
                       date_trunc('week', placed_at AT TIME ZONE %(tz)s)::date AS week
                FROM profiles_order WHERE status <> %(cancelled)s
            ), f AS (
                SELECT profile_id, min(week) AS cohort FROM o GROUP BY profile_id
            )
            SELECT f.cohort, (o.week - f.cohort) / 7 AS offset_weeks,
                   count(DISTINCT o.profile_id)
            FROM f JOIN o ON o.profile_id = f.profile_id
            WHERE f.cohort >= %(first)s AND f.cohort <= %(current)s AND o.week <= %(current)s
            GROUP BY 1, 2
            """,
            {
                "tz": settings.TIME_ZONE,
                "cancelled": Order.Status.CANCELLED,
                "first": first,
                "current": current,
            },
        )
        found = {(cohort, offset): count for cohort, offset, count in cursor.fetchall()}
    cohorts = []
    for n in range(weeks):
        week = first + timedelta(weeks=n)
        later = (current - week).days // 7
        cohorts.append(
            Cohort(
                week=week,
                size=found.get((week, 0), 0),
                returned=[found.get((week, k), 0) for k in range(1, later + 1)],
                weeks=weeks,
            )
        )
    return Retention(weeks=weeks, cohorts=cohorts)
