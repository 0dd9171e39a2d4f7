"""Funnels a marketer builds: 2 to 8 steps, each any activity of the catalog (or any activity
with a commerce role) with property filters, in order in time, with the conversion and the
time to convert between steps; saved by name.

A step is a behaviour condition of the segments without its count and window: its events are
the ones the segment compiler reads for the same activity and filters
(`segments.compiler.Compiler.event_filter`), so a filter means the same in a funnel as in a
segment. A person reaches step 1 at their first event of it in the period; step k at their
first event of step k strictly after the time they reached step k-1, so one event never
counts for two steps (a funnel may repeat an activity: viewed, viewed again). The time to
convert is, over the people who reached a step, the median of the time from their arrival at
the step before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from cdp_project.analytics.funnel import Funnel, FunnelStep
from ingestion.models import Event
from segments.builder.form import activity_key, activity_selector
from segments.compiler import Compiler
from segments.definition import OPERATORS, DefinitionError, definition_parse
from segments.models import Membership
from segments.tree import Behaviour

MIN_STEPS, MAX_STEPS = 2, 8
# The operators a step's filter offers: those of text and numbers, by their label.
FILTER_OPERATORS = list(
    dict.fromkeys(
        [(value, label) for value, label in OPERATORS["string"] if value not in ("is_set",)]
        + [(v, label) for v, label in OPERATORS["number"] if v in ("gt", "gte", "lt", "lte")]
        + [("is_set", "is set")]
    )
)
NO_VALUE = {"is_set", "is_not_set"}


@dataclass(frozen=True)
class StepInput:
    """One step as the form holds it: an activity key (`track:Order Completed`,
    `role:order_completed`) and at most one property filter."""

    activity: str
    path: str = ""
    operator: str = ""
    value: str = ""

    def node(self) -> dict[str, Any]:
        """The step as a segment behaviour condition (its count and window do not matter)."""
        where = []
        if self.path:
            item: dict[str, Any] = {"path": self.path, "operator": self.operator or "equals"}
            if item["operator"] == "one_of":
                item["value"] = [part.strip() for part in self.value.split(",") if part.strip()]
            elif item["operator"] not in NO_VALUE:
                item["value"] = self.value
            where.append(item)
        return {
            "kind": "behaviour",
            "activity": activity_selector(self.activity),
            "count": {"operator": "at_least", "value": 1},
            "window": {"type": "ever"},
            "where": where,
        }


def steps_from_query(query: Mapping[str, Any]) -> list[StepInput]:
    """The steps of a funnel form (`s0`, `s0_path`, `s0_op`, `s0_value`, … `s7…`), the empty
    ones left out."""
    steps = []
    for index in range(MAX_STEPS + 1):
        activity = str(query.get(f"s{index}", "") or "").strip()
        if not activity:
            continue
        path = str(query.get(f"s{index}_path", "") or "").strip()
        if not path:  # no filter: the operator and value shown beside it mean nothing
            steps.append(StepInput(activity=activity))
            continue
        steps.append(
            StepInput(
                activity=activity,
                path=path,
                operator=str(query.get(f"s{index}_op", "") or "").strip(),
                value=str(query.get(f"s{index}_value", "") or "").strip(),
            )
        )
    return steps


def steps_from_saved(stored: list[dict[str, Any]]) -> list[StepInput]:
    """A saved funnel's steps as the form shows them."""
    steps = []
    for step in stored:
        where = (step.get("where") or [{}])[0]
        value = where.get("value", "")
        steps.append(
            StepInput(
                activity=activity_key(step.get("activity")),
                path=str(where.get("path", "")),
                operator=str(where.get("operator", "")),
                value=", ".join(map(str, value)) if isinstance(value, list) else str(value),
            )
        )
    return steps


def steps_parse(steps: list[StepInput]) -> tuple[list[Behaviour], list[dict[str, Any]]]:
    """The steps checked against the catalog, as the compiler's conditions and in their
    stored shape. Raises DefinitionError with one message per problem, numbered by step."""
    if not MIN_STEPS <= len(steps) <= MAX_STEPS:
        raise DefinitionError(
            [f"A funnel has {MIN_STEPS} to {MAX_STEPS} steps; this one has {len(steps)}."]
        )
    tree = {"kind": "group", "match": "all", "conditions": [step.node() for step in steps]}
    try:
        group = definition_parse(tree)
    except DefinitionError as error:
        # The segment messages number conditions from 1, as the funnel numbers its steps.
        raise DefinitionError(
            [message.replace("Condition ", "Step ") for message in error.errors]
        ) from None
    nodes = [node for node in group.conditions if isinstance(node, Behaviour)]
    stored = [
        {"activity": step.node()["activity"], "where": step.node()["where"]} for step in steps
    ]
    return nodes, stored


def custom_funnel_compute(
    *,
    steps: list[Behaviour],
    labels: list[str],
    start: datetime,
    end: datetime,
    source_id: int | None = None,
    segment_id: int | None = None,
) -> Funnel:
    """The funnel of `steps` over events with times in [start, end), in one query."""
    counts, medians = _run(steps, start=start, end=end, source_id=source_id, segment_id=segment_id)
    found = []
    for index, label in enumerate(labels):
        found.append(
            FunnelStep(
                role="",
                label=label,
                names=[],
                people=counts[index],
                previous=counts[index - 1] if index else None,
                first=counts[0],
                median_seconds=medians[index],
            )
        )
    return Funnel(start=start, end=end, source_id=source_id, segment_id=segment_id, steps=found)


def _run(
    steps: list[Behaviour],
    *,
    start: datetime,
    end: datetime,
    source_id: int | None,
    segment_id: int | None,
) -> tuple[list[int], list[float | None]]:
    compiler = Compiler()
    parts: list[str] = []
    params: list[Any] = []
    for index, node in enumerate(steps, start=1):
        events = compiler.event_filter(Event.objects.all(), node).filter(
            timestamp__gte=start, timestamp__lt=end, profile_id__isnull=False
        )
        if source_id is not None:
            events = events.filter(source_id=source_id)
        if segment_id is not None:
            members = Membership.objects.filter(segment_id=segment_id).values("profile_id")
            events = events.filter(profile_id__in=members)
        sql, step_params = (
            events.order_by().values_list("profile_id", "timestamp").query.sql_with_params()
        )
        parts.append(f"e{index} (profile_id, t) AS ({sql})")
        params.extend(step_params)
    parts.append(
        "s1 AS (SELECT profile_id, min(t) AS t, NULL::interval AS took FROM e1 GROUP BY profile_id)"
    )
    for index in range(2, len(steps) + 1):
        parts.append(
            f"s{index} AS (SELECT e.profile_id, min(e.t) AS t, min(e.t) - p.t AS took "  # noqa: S608
            f"FROM e{index} AS e JOIN s{index - 1} AS p "
            f"ON p.profile_id = e.profile_id AND e.t > p.t GROUP BY e.profile_id, p.t)"
        )
    figures = ", ".join(
        f"(SELECT count(*) FROM s{index}), "  # noqa: S608 - step numbers only
        f"(SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM took)) "
        f"FROM s{index})"
        for index in range(1, len(steps) + 1)
    )
    sql = f"WITH {', '.join(parts)} SELECT {figures}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    counts = [int(row[2 * n]) for n in range(len(steps))]
    medians = [None if row[2 * n + 1] is None else float(row[2 * n + 1]) for n in range(len(steps))]
    return counts, medians
