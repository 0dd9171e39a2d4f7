"""Template helpers of the profile pages: payloads as tables, the engagement trend, the
one-line summary of an event."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Item fields most worth seeing first in an array of products.
ITEM_COLUMNS = ["sku", "product_id", "name", "price", "quantity", "category", "brand", "variant"]
MAX_COLUMNS = 12
MAX_ROWS = 50
MAX_DEPTH = 5


def _scalar(value: Any) -> SafeString:
    if isinstance(value, str):
        return conditional_escape(value) if value else mark_safe('<span class="muted">""</span>')
    return format_html("<code>{}</code>", json.dumps(value, ensure_ascii=False, default=str))


def _columns(items: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items[:MAX_ROWS]:
        seen.update(dict.fromkeys(str(k) for k in item))
    columns = [c for c in ITEM_COLUMNS if c in seen] + [c for c in seen if c not in ITEM_COLUMNS]
    return columns[:MAX_COLUMNS]


def _value(value: Any, depth: int = 0) -> SafeString:
    if depth > MAX_DEPTH:
        return format_html("<code>{}</code>", json.dumps(value, ensure_ascii=False, default=str))
    if isinstance(value, dict):
        if not value:
            return mark_safe('<span class="muted">{}</span>')
        rows = format_html_join(
            "",
            '<tr><th scope="row">{}</th><td>{}</td></tr>',
            ((key, _value(item, depth + 1)) for key, item in value.items()),
        )
        return format_html('<table class="kv"><tbody>{}</tbody></table>', rows)
    if isinstance(value, list):
        if value and all(isinstance(item, dict) for item in value):
            return _items(value, depth)
        if not value:
            return mark_safe('<span class="muted">[]</span>')
        return format_html_join(", ", "{}", ((_value(item, depth + 1),) for item in value))
    return _scalar(value)


def _items(items: list[dict], depth: int) -> SafeString:
    """An array of objects (products[] and the like) as a table, one row per item."""
    columns = _columns(items)
    head = format_html_join("", '<th scope="col">{}</th>', ((c,) for c in columns))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (
                format_html_join(
                    "",
                    "<td>{}</td>",
                    ((_value(item[c], depth + 1) if c in item else "",) for c in columns),
                ),
            )
            for item in items[:MAX_ROWS]
        ),
    )
    more = ""
    if len(items) > MAX_ROWS:
        more = format_html('<p class="small muted">and {} more items</p>', len(items) - MAX_ROWS)
    return format_html(
        '<div class="scroll"><table class="items"><thead><tr>{}</tr></thead><tbody>{}</tbody>'
        "</table></div>{}",
        head,
        body,
        more,
    )


@register.filter
def payload(value: Any) -> SafeString:
    """A JSON payload as nested tables: keys and values, arrays of objects as item tables."""
    return _value(value)


@register.filter
def profile_label(profile: Any) -> str:
    return profile.label


@register.filter
def event_label(event: Any) -> str:
    """What the marketer calls the event: the track name, or the kind of call."""
    if event.type == "track":
        return event.name or "(unnamed event)"
    labels = {
        "page": "Page viewed",
        "screen": "Screen viewed",
        "identify": "Identified",
        "alias": "Alias",
        "group": "Group",
    }
    return labels.get(event.type, event.type)


def _text(value: Any, length: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= length else text[: length - 1] + "…"


@register.filter
def event_summary(event: Any) -> str:
    """One line of what matters in an event, shown beside its name."""
    properties = event.properties if isinstance(event.properties, dict) else {}
    if event.type in ("page", "screen"):
        where = event.name or properties.get("path") or properties.get("url") or ""
        return _text(where)
    if event.type == "identify":
        traits = event.traits if isinstance(event.traits, dict) else {}
        shown = [str(traits[k]) for k in ("email", "name") if traits.get(k)]
        rest = len(traits) - len(shown)
        extra = f"{rest} trait{'s' if rest != 1 else ''}" if rest > 0 else ""
        return _text(" · ".join([*shown, extra] if extra else shown))
    if event.type == "alias":
        return _text(f"from {event.extra.get('previousId', '')}")
    parts = []
    products = properties.get("products")
    if isinstance(products, list) and products:
        parts.append(f"{len(products)} product{'s' if len(products) != 1 else ''}")
    elif properties.get("name"):
        parts.append(str(properties["name"]))
    for key in ("order_id", "total", "revenue", "price"):
        if properties.get(key) not in (None, ""):
            parts.append(f"{key} {properties[key]}")
            if len(parts) >= 3:
                break
    return _text(" · ".join(parts))


@register.simple_tag
def engagement_trend(weeks: list, width: int = 240, height: int = 48) -> SafeString:
    """The engagement points of recent weeks as small bars, each titled with its week."""
    if not weeks:
        return mark_safe("")
    peak = max(week.points for week in weeks) or 1
    gap = 2
    bar = (width - gap * (len(weeks) - 1)) / len(weeks)
    bars = []
    for index, week in enumerate(weeks):
        bar_height = max(1.0, (week.points / peak) * (height - 2)) if week.points else 1.0
        title = f"Week of {week.start:%d %b %Y}: {week.points:g} points"
        bars.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" rx="1" class="{}">'
                "<title>{}</title></rect>",
                f"{index * (bar + gap):.1f}",
                f"{height - bar_height:.1f}",
                f"{bar:.1f}",
                f"{bar_height:.1f}",
                "bar" if week.points else "bar empty",
                title,
            )
        )
    summary = (
        f"Engagement points per week, {weeks[0].start:%d %b} to {weeks[-1].start:%d %b}: "
        + ", ".join(f"{week.points:g}" for week in weeks)
    )
    return format_html(
        '<svg class="trend" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
        'aria-label="{}">{}</svg>',
        width,
        height,
        width,
        height,
        summary,
        mark_safe("".join(bars)),  # noqa: S308 - each bar is built by format_html
    )


@register.filter
def share(value: float, top: float) -> int:
    """A preference's weight as a percentage of the strongest one, for its bar."""
    return round(100 * value / top) if top else 0


@register.filter
def day_label(day: date) -> str:
    """A timeline day heading: "Today", "Yesterday", else the date in full."""
    today = timezone.localdate()
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    return f"{day:%A} {day.day} {day:%B %Y}"


@register.filter
def clock_skew_seconds(event: Any) -> float:
    """How far the device's own time was from the corrected event time."""
    if not event.original_timestamp:
        return 0.0
    return abs((event.original_timestamp - event.timestamp).total_seconds())
