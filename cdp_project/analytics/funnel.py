"""The commerce funnel: viewed a product → added to cart → started checkout → ordered.

Steps are commerce roles, so a site whose events are named differently (`add_to_cart`)
counts once a marketer maps them in the catalog. A person is at a step when they did it in
the period at or after the time they reached the step before (so the steps are in order);
each step counts people, not events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from ingestion.catalog.selectors import track_names_for_role
from ingestion.models import CommerceRole

STEPS = [
    (CommerceRole.PRODUCT_VIEWED, "Viewed a product"),
    (CommerceRole.PRODUCT_ADDED, "Added to cart"),
    (CommerceRole.CHECKOUT_STARTED, "Started checkout"),
    (CommerceRole.ORDER_COMPLETED, "Ordered"),
]


@dataclass(frozen=True)
class FunnelStep:
    role: str
    label: str
    # The track event names that count for the step.
    names: list[str]
    people: int
    # People at the step before (None for the first).
    previous: int | None
    first: int
    # The median time from the step before, in seconds (a funnel of chosen steps only).
    median_seconds: float | None = None

    @property
    def conversion(self) -> float | None:
        """The share of the previous step's people who reached this one."""
        if self.previous is None:
            return None
        return self.people / self.previous if self.previous else 0.0

    @property
    def dropped(self) -> int:
        return 0 if self.previous is None else self.previous - self.people

    @property
    def drop_off(self) -> float | None:
        conversion = self.conversion
        return None if conversion is None else 1 - conversion

    @property
    def of_first(self) -> float:
        return self.people / self.first if self.first else 0.0


@dataclass(frozen=True)
class Funnel:
    start: datetime
    end: datetime
    source_id: int | None
    segment_id: int | None
    steps: list[FunnelStep]


def funnel_compute(
    *,
    start: datetime,
    end: datetime,
    source_id: int | None = None,
    segment_id: int | None = None,
) -> Funnel:
    """The funnel over events with times in [start, end), of one source's events only when
    `source_id` is given, and of the people in a segment now when `segment_id` is given.

    One query: the steps' events of the period are read once through `event_name_time`,
    then each step keeps the people who did it at or after their time at the step before.
    """
    names = funnel_step_names()
    counts = _counts(names, start=start, end=end, source_id=source_id, segment_id=segment_id)
    steps = []
    for index, ((role, label), step_names) in enumerate(zip(STEPS, names, strict=True)):
        steps.append(
            FunnelStep(
                role=str(role),
                label=label,
                names=step_names,
                people=counts[index],
                previous=counts[index - 1] if index else None,
                first=counts[0],
            )
        )
    return Funnel(start=start, end=end, source_id=source_id, segment_id=segment_id, steps=steps)


def funnel_step_names() -> list[list[str]]:
    """The track event names of each step, from the catalog's commerce roles."""
    return [sorted(track_names_for_role(role=role)) for role, _ in STEPS]


def _counts(
    names: list[list[str]],
    *,
    start: datetime,
    end: datetime,
    source_id: int | None,
    segment_id: int | None,
) -> list[int]:
    if not any(names):
        return [0] * len(names)
    sql, params = funnel_sql(
        names, start=start, end=end, source_id=source_id, segment_id=segment_id
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchone())


def funnel_sql(
    names: list[list[str]],
    *,
    start: datetime,
    end: datetime,
    source_id: int | None = None,
    segment_id: int | None = None,
) -> tuple[str, dict[str, list[str] | datetime | int]]:
    """The funnel's one query and its parameters, for the step names given (the benchmark
    prints its plan)."""
    every = sorted({name for step in names for name in step})
    params: dict[str, list[str] | datetime | int] = {"names": every, "start": start, "end": end}
    # Each name carries one role, so each event belongs to one step.
    cases = []
    for index, step in enumerate(names, start=1):
        params[f"step{index}"] = step
        cases.append(f"WHEN name = ANY(%(step{index})s) THEN {index}")
    filters = ""
    if source_id is not None:
        params["source"] = source_id
        filters += " AND source_id = %(source)s"
    if segment_id is not None:
        params["segment"] = segment_id
        filters += (
            " AND profile_id IN (SELECT profile_id FROM segments_membership"
            " WHERE segment_id = %(segment)s)"
        )
    reached = ["s1 AS (SELECT profile_id, min(t) AS t FROM e WHERE step = 1 GROUP BY profile_id)"]
    for index in range(2, len(names) + 1):
        reached.append(
            f"s{index} AS (SELECT e.profile_id, min(e.t) AS t FROM e "  # noqa: S608
            f"JOIN s{index - 1} AS p ON p.profile_id = e.profile_id "
            f"WHERE e.step = {index} AND e.t >= p.t GROUP BY e.profile_id)"
        )
    counts = ", ".join(
        f"(SELECT count(*) FROM s{index})"  # noqa: S608 - step numbers only
        for index in range(1, len(names) + 1)
    )
    sql = f"""
        WITH e AS MATERIALIZED (
            SELECT profile_id, timestamp AS t, CASE {" ".join(cases)} END AS step
            FROM ingestion_event
            WHERE type = 'track' AND name = ANY(%(names)s)
              AND timestamp >= %(start)s AND timestamp < %(end)s
              AND profile_id IS NOT NULL {filters}
        ), {", ".join(reached)}
        SELECT {counts}
    """  # noqa: S608 - only step numbers and constant text are interpolated
    return sql, params
