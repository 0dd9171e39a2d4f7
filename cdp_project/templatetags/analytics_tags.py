"""The dashboard's and the analytics pages' charts, drawn by `cdp_project.core.charts`."""

from __future__ import annotations

import math
from typing import Any

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString

from cdp_project.core import charts

register = template.Library()

# The dashboard's charts are drawn as wide as their card's inside at 1440 px, so they fill it
# with their text at its own size; on a phone they keep a readable size and scroll sideways.
DASHBOARD_WIDTH, DASHBOARD_HEIGHT = 1200, 240


@register.simple_tag
def hourly_chart(figures: Any) -> SafeString:
    """Events per hour of the last 24 hours, stacked by source."""
    # Minutes too: in a zone half an hour off UTC, hours start at :30.
    labels = [f"{timezone.localtime(hour):%H:%M}" for hour in figures.hours]
    series = [charts.Series(s.name, s.values) for s in figures.hourly]
    return charts.stacked_bars(
        labels=labels, series=series, every=2, width=DASHBOARD_WIDTH, height=DASHBOARD_HEIGHT
    )


@register.simple_tag
def daily_chart(figures: Any) -> SafeString:
    """Events per day of the last 30 days, stacked by source."""
    labels = [f"{day:%d %b}" for day in figures.days]
    series = [charts.Series(s.name, s.values) for s in figures.daily]
    return charts.stacked_bars(
        labels=labels, series=series, every=3, width=DASHBOARD_WIDTH, height=DASHBOARD_HEIGHT
    )


@register.simple_tag
def funnel_chart(funnel: Any) -> SafeString:
    bars = [
        charts.Bar(
            step.label,
            step.people,
            f"{step.of_first:.0%} of the first step"
            + ("" if step.conversion is None else f", {step.conversion:.0%} of the one before"),
        )
        for step in funnel.steps
    ]
    return charts.horizontal_bars(bars=bars)


@register.filter
def series_class(index: int) -> str:
    return charts.series_class(index)


@register.filter
def duration(seconds: float | None) -> str:
    """A time to convert in words: "45 s", "12 min", "3 h 20 min", "2 d 4 h"; "—" for none."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """0.256 → "25.6%"; nothing for no value."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


@register.filter
def signed_percent(value: float | None) -> str:
    if value is None:
        return "new"
    return f"{value * 100:+.0f}%"


@register.filter
def heat(value: float, peak: float) -> str:
    """A cell's shade (`heat-0` … `heat-5`), relative to the grid's largest value."""
    if not value or not peak:
        return "heat-0"
    return f"heat-{min(5, max(1, math.ceil(5 * value / peak)))}"


@register.filter
def get_index(values: list, index: int) -> Any:
    return values[index]
