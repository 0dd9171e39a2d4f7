import json
from typing import Any

from django import template
from django.utils.html import format_html

from ingestion.catalog.paths import personal_kind_text
from ingestion.models import TIE_ORDER, Event, FieldType

register = template.Library()


@register.filter
def pretty_json(value: Any) -> str:
    """Indented JSON for the debugger; autoescaping still applies to the result."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


@register.filter
def raw_message(event: Event) -> str:
    """The event as one message in the Segment spec's field order, compact: what the
    debugger's raw view shows. Each object keeps the order its keys are stored in (Postgres'
    jsonb keeps its own order, not the sender's: shorter keys first)."""
    message: dict[str, Any] = {"type": event.type}
    if event.name:
        message["event" if event.type == "track" else "name"] = event.name
    if event.user_id:
        message["userId"] = event.user_id
    if event.anonymous_id:
        message["anonymousId"] = event.anonymous_id
    message["messageId"] = event.message_id
    message["timestamp"] = event.timestamp
    if event.original_timestamp:
        message["originalTimestamp"] = event.original_timestamp
    if event.sent_at:
        message["sentAt"] = event.sent_at
    message["receivedAt"] = event.received_at
    for key, value in (
        ("properties", event.properties),
        ("traits", event.traits),
        ("context", event.context),
    ):
        if value:
            message[key] = value
    message.update(event.extra or {})
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=_json_time)


def _json_time(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


@register.filter
def pretty_excerpt(excerpt: str) -> str:
    """A refused request's excerpt indented, its keys in the order they were sent; as sent
    when it is not whole JSON (cut at its length limit, or not JSON at all)."""
    try:
        value = json.loads(excerpt)
    except ValueError:
        return excerpt
    return json.dumps(value, indent=2, ensure_ascii=False)


@register.simple_tag
def sparkline(values: list[int], width: int = 120, height: int = 26) -> str:
    """A small inline SVG line of daily volumes, oldest first, with its numbers in the
    title (what a hover shows)."""
    values = list(values or [])
    if not values:
        return ""
    peak = max(values) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{index * step:.1f},{height - 2 - (value / peak) * (height - 4):.1f}"
        for index, value in enumerate(values)
    )
    total = sum(values)
    title = f"{total:,} in the last {len(values)} days; peak {max(values):,} a day"
    return format_html(
        # Stretched to its box's width where the page says so (a dashboard card), its line
        # keeping its thickness.
        '<svg class="sparkline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
        'preserveAspectRatio="none" aria-label="{}"><title>{}</title><polyline fill="none" '
        'stroke="currentColor" stroke-width="1.5" vector-effect="non-scaling-stroke" '
        'points="{}"/></svg>',
        width,
        height,
        width,
        height,
        title,
        title,
        points,
    )


@register.filter
def type_counts_text(field: Any) -> str:
    """ "number 3 · string 1": the types a field was seen with, most frequent first."""
    counts = sorted(field.type_counts.items(), key=lambda i: (-i[1], TIE_ORDER.index(i[0])))
    return " · ".join(f"{kind} {count:,}" for kind, count in counts)


@register.filter
def get_item(mapping: dict, key: Any) -> Any:
    return mapping.get(key, "")


@register.simple_tag
def field_type_choices() -> list[tuple[str, str]]:
    return list(FieldType.choices)


@register.filter
def example_text(value: Any) -> str:
    """An example value as JSON writes it (`true`, `12.5`), strings as they are."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@register.filter
def looks_like(kind: str) -> str:
    """What a field's values look like, for its suggestion: "email addresses"."""
    return personal_kind_text(kind)
