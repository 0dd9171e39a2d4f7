"""Server-side SVG charts shared by the pages: the scale every chart maps values with, and
the bar charts of the dashboard and the analytics pages.

Each chart carries its numbers in SVG `<title>` elements (what a hover shows) and a summary
in `aria-label`; every value that came from events (source and activity names) passes
through `format_html`, so it is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


def scale(value: float, low: float, high: float, start: float, end: float) -> float:
    """`value` in [low, high] mapped onto [start, end]; the middle when the range is empty."""
    if high == low:
        return (start + end) / 2
    return start + (value - low) / (high - low) * (end - start)


@dataclass(frozen=True)
class Series:
    """One stacked layer of a bar chart: a label (a source's name) and a value per bar."""

    label: str
    values: Sequence[int | float]


# Series colours come from the stylesheet (`.series-0` … `.series-5`); more repeat.
SERIES_COLOURS = 6


def axes(*, left: float, right: float, top: float, bottom: float, peak: str) -> SafeString:
    """A chart's frame: the baseline, a grid line at the peak, and the two values labelled
    at the left."""
    return format_html(
        '<line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>'
        '<line class="grid" x1="{left}" y1="{top}" x2="{right}" y2="{top}"/>'
        '<text class="label" x="{label_x}" y="{top_label}" text-anchor="end">{peak}</text>'
        '<text class="label" x="{label_x}" y="{bottom}" text-anchor="end">0</text>',
        left=f"{left:.0f}",
        right=f"{right:.0f}",
        top=f"{top:.0f}",
        bottom=f"{bottom:.0f}",
        label_x=f"{left - 6:.0f}",
        top_label=f"{top + 4:.0f}",
        peak=peak,
    )


def series_class(index: int) -> str:
    return f"series-{index % SERIES_COLOURS}"


def stacked_bars(
    *,
    labels: Sequence[str],
    series: Sequence[Series],
    unit: str = "events",
    width: int = 720,
    height: int = 180,
    every: int = 1,
) -> SafeString:
    """Bars (one per label: an hour, a day), each stacked by series, titled with the bar's
    total and each series' part. `every` labels one bar in so many along the axis."""
    if not labels:
        return mark_safe("")
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    peak = max(totals, default=0) or 1
    left, right, top, bottom = 44.0, width - 8.0, 10.0, height - 22.0
    slot = (right - left) / len(labels)
    bar = max(slot - 2, 1.0)
    bars = []
    for index, label in enumerate(labels):
        x = left + index * slot + (slot - bar) / 2
        y = bottom
        rects = []
        for number, layer in enumerate(series):
            value = layer.values[index]
            if not value:
                continue
            size = scale(value, 0, peak, 0, bottom - top)
            y -= size
            rects.append(
                format_html(
                    '<rect class="{}" x="{}" y="{}" width="{}" height="{}"/>',
                    series_class(number),
                    f"{x:.1f}",
                    f"{y:.1f}",
                    f"{bar:.1f}",
                    f"{size:.1f}",
                )
            )
        parts = ", ".join(
            f"{layer.label} {_number(layer.values[index])}"
            for layer in series
            if layer.values[index]
        )
        title = f"{label}: {_number(totals[index])} {unit}" + (f" ({parts})" if parts else "")
        # A full-height transparent target, so the title shows on a hover over empty bars too.
        bars.append(
            format_html(
                '<g class="bar"><title>{}</title><rect class="hit" x="{}" y="{}" width="{}" '
                'height="{}"/>{}</g>',
                title,
                f"{left + index * slot:.1f}",
                f"{top:.1f}",
                f"{slot:.1f}",
                f"{bottom - top:.1f}",
                mark_safe("".join(rects)),  # noqa: S308 - each rect is built by format_html
            )
        )
    ticks = format_html_join(
        "",
        '<text class="label" x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (f"{left + index * slot + slot / 2:.1f}", f"{height - 6:.0f}", label)
            for index, label in enumerate(labels)
            if index % every == 0
        ),
    )
    summary = (
        f"{_number(sum(totals))} {unit} from {labels[0]} to {labels[-1]}, "
        f"at most {_number(max(totals, default=0))} in one"
    )
    return format_html(
        '<svg class="bar-chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        'aria-label="{summary}">'
        "{frame}{bars}{ticks}</svg>",
        w=width,
        h=height,
        summary=summary,
        frame=axes(left=left, right=right, top=top, bottom=bottom, peak=_number(peak)),
        bars=mark_safe("".join(bars)),  # noqa: S308 - each bar is built by format_html
        ticks=ticks,
    )


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: a label, its value, and the note its title adds (a share)."""

    label: str
    value: int | float
    note: str = ""


def horizontal_bars(
    *, bars: Sequence[Bar], unit: str = "people", width: int = 720, row: int = 30
) -> SafeString:
    """One bar per row, longest for the largest value, each titled with its number."""
    if not bars:
        return mark_safe("")
    peak = max((b.value for b in bars), default=0) or 1
    label_width, gap = 170.0, 6.0
    # Room after the longest bar for its number.
    end = width - 72.0
    height = row * len(bars)
    rows = []
    for index, item in enumerate(bars):
        y = index * row
        length = max(scale(item.value, 0, peak, 0, end - label_width), 1.0 if item.value else 0)
        title = f"{item.label}: {_number(item.value)} {unit}" + (
            f" ({item.note})" if item.note else ""
        )
        rows.append(
            format_html(
                '<g class="bar"><title>{}</title>'
                '<text class="label" x="{}" y="{}" text-anchor="end">{}</text>'
                '<rect class="hit" x="0" y="{}" width="{}" height="{}"/>'
                '<rect class="series-0" x="{}" y="{}" width="{}" height="{}"/>'
                '<text class="value" x="{}" y="{}">{}</text></g>',
                title,
                f"{label_width - gap:.0f}",
                f"{y + row / 2 + 4:.1f}",
                item.label,
                f"{y:.1f}",
                f"{width}",
                f"{row:.0f}",
                f"{label_width:.0f}",
                f"{y + 4:.1f}",
                f"{length:.1f}",
                f"{row - 8:.0f}",
                f"{label_width + length + 4:.1f}",
                f"{y + row / 2 + 4:.1f}",
                _number(item.value),
            )
        )
    summary = "; ".join(f"{b.label}: {_number(b.value)} {unit}" for b in bars)
    return format_html(
        '<svg class="bar-chart horizontal" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'role="img" aria-label="{summary}">{rows}</svg>',
        w=width,
        h=height,
        summary=summary,
        rows=mark_safe("".join(rows)),  # noqa: S308 - each row is built by format_html
    )


def _number(value: int | float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"
