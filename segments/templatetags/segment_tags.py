"""Template helpers of the segment pages: the size-over-time chart, and the segments section
of a profile's page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime

from cdp_project.core.charts import axes, scale
from segments import selectors

register = template.Library()


@register.inclusion_tag("segments/_profile_segments.html")
def profile_segments(profile: Any) -> dict[str, Any]:
    """The segments a person is in and those they left recently, each with a "why" link:
    `{% profile_segments profile %}` on the profile page."""
    found = selectors.profile_segments(profile=profile)
    return {"profile": profile, "current": found.current, "left": found.left}


# More points than this make dots a smear; the line alone shows them.
MAX_DOTS = 200


def _time_labels(first: datetime, last: datetime) -> tuple[str, str]:
    """The chart's first and last times, as precise as its span needs: minutes within two
    days, dates beyond."""
    first, last = localtime(first), localtime(last)
    if last - first <= timedelta(days=2):
        same_day = first.date() == last.date()
        return f"{first:%d %b %H:%M}", f"{last:%H:%M}" if same_day else f"{last:%d %b %H:%M}"
    year = "" if first.year == last.year else " %Y"
    return first.strftime(f"%d %b{year}"), last.strftime(f"%d %b{year}")


@register.simple_tag
def size_chart(
    points: list[selectors.SizePoint], width: int = 640, height: int = 160
) -> SafeString:
    """The size over time as an inline SVG step line at the real times of the refreshes
    (the size holds until the next refresh changes it, so 3, 2, 1 within minutes are three
    steps), with the largest size and the first and last times as labels, and each change
    titled with its time and size. Dots are drawn while there are few enough to tell
    apart."""
    if not points:
        return mark_safe("")
    left, right, top, bottom = 44.0, width - 8.0, 10.0, height - 22.0
    first, last = points[0].at.timestamp(), points[-1].at.timestamp()
    peak = max(point.size for point in points) or 1
    xs = [scale(point.at.timestamp(), first, last, left, right) for point in points]
    ys = [scale(point.size, 0, peak, bottom, top) for point in points]
    if len(points) == 1:
        xs, ys = [left, right], [ys[0], ys[0]]
    steps = [f"M{xs[0]:.1f},{ys[0]:.1f}"]
    for x, y in zip(xs[1:], ys[1:], strict=True):
        steps.append(f"H{x:.1f}V{y:.1f}")
    line = "".join(steps)
    area = f"{line}V{bottom:.1f}H{xs[0]:.1f}Z"
    shown = list(zip(xs, ys, points, strict=False)) if len(points) <= MAX_DOTS else []
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="2.5"><title>{}: {} people</title></circle>',
        (
            (f"{x:.1f}", f"{y:.1f}", f"{localtime(point.at):%Y-%m-%d %H:%M}", f"{point.size:,}")
            for x, y, point in shown
        ),
    )
    start, end = _time_labels(points[0].at, points[-1].at)
    summary = (
        f"Size from {start} to {end}: {points[0].size:,} then {points[-1].size:,} people, "
        f"at most {peak:,}, over {len(points):,} points"
    )
    return format_html(
        '<svg class="size-chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        'aria-label="{summary}"><title>{summary}</title>'
        "{frame}"
        '<text class="label" x="{left}" y="{date_y}">{start}</text>'
        '<text class="label" x="{right}" y="{date_y}" text-anchor="end">{end}</text>'
        '<path class="area" d="{area}"/><path class="line" d="{line}"/>'
        '<g class="dots">{dots}</g></svg>',
        w=width,
        h=height,
        summary=summary,
        frame=axes(left=left, right=right, top=top, bottom=bottom, peak=f"{peak:,}"),
        left=f"{left:.0f}",
        right=f"{right:.0f}",
        date_y=f"{height - 6:.0f}",
        start=start,
        end=end,
        area=area,
        line=line,
        dots=dots,
    )
