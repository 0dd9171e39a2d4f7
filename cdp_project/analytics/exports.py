"""Each analytics page's figures as CSV rows: what its "Download CSV" link sends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.utils import timezone

from cdp_project.analytics.dashboard import Dashboard
from cdp_project.analytics.funnel import Funnel
from cdp_project.analytics.retention import Retention
from cdp_project.analytics.rfm import RfmGrid

Row = list[Any]


def dashboard_rows(dashboard: Dashboard) -> Iterator[Row]:
    """One figure a row: events per hour and per day by source, the top activities, then
    the profile and order figures."""
    yield ["figure", "period", "source", "activity", "value"]
    for series in dashboard.hourly:
        for hour, value in zip(dashboard.hours, series.values, strict=True):
            local = timezone.localtime(hour)
            yield ["events per hour", f"{local:%Y-%m-%d %H:%M}", series.name, "", value]
    for series in dashboard.daily:
        for day, value in zip(dashboard.days, series.values, strict=True):
            yield ["events per day", day.isoformat(), series.name, "", value]
    for trend in dashboard.top_activities:
        yield ["activity events, last 7 days", "", "", trend.label, trend.count]
        yield ["activity events, 7 days before", "", "", trend.label, trend.previous]
    for day, value in zip(dashboard.days, dashboard.new_profiles_daily, strict=True):
        yield ["new profiles", day.isoformat(), "", "", value]
    yield ["people seen, last 30 days", "", "", "", dashboard.active_profiles]
    yield ["known people seen, last 30 days", "", "", "", dashboard.known_profiles]
    yield ["anonymous people seen, last 30 days", "", "", "", dashboard.anonymous_profiles]
    yield ["orders, last 30 days", "", "", "", dashboard.orders]
    yield ["orders, 30 days before", "", "", "", dashboard.orders_previous]
    yield ["net revenue, last 30 days", "", "", "", dashboard.revenue]
    yield ["net revenue, 30 days before", "", "", "", dashboard.revenue_previous]
    for day, revenue in zip(dashboard.days, dashboard.revenue_daily, strict=True):
        yield ["net revenue per day", day.isoformat(), "", "", f"{revenue:.2f}"]


def funnel_rows(funnel: Funnel) -> Iterator[Row]:
    yield [
        "step",
        "activities",
        "people",
        "of previous step",
        "dropped",
        "of first step",
        "median seconds from previous step",
    ]
    for step in funnel.steps:
        yield [
            step.label,
            " | ".join(step.names),
            step.people,
            "" if step.conversion is None else f"{step.conversion:.4f}",
            "" if step.previous is None else step.dropped,
            f"{step.of_first:.4f}",
            "" if step.median_seconds is None else f"{step.median_seconds:.0f}",
        ]


def retention_rows(retention: Retention) -> Iterator[Row]:
    yield ["cohort week", "new customers"] + [f"week {k}" for k in retention.offsets]
    for cohort in retention.cohorts:
        shares = [f"{share:.4f}" for share in cohort.shares]
        yield [cohort.week.isoformat(), cohort.size, *shares]


def rfm_rows(grid: RfmGrid) -> Iterator[Row]:
    yield ["recency", "frequency", "monetary", "customers", "revenue"]
    for cell in grid.cells:
        yield [cell.recency, cell.frequency, cell.monetary, cell.customers, cell.revenue]
