"""Writes for the catalog that marketers make: names, descriptions, roles, status, types."""

from __future__ import annotations

from collections import Counter

from django.db import connection

from ingestion.models import Activity, DiscoveredField


def activities_count_blocked(blocked: Counter) -> None:
    """Add refused events to the blocked activities' counts: one statement per request."""
    keys = sorted(blocked)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE ingestion_activity AS a SET blocked_count = a.blocked_count + t.refused
            FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS t(kind, name, refused)
            WHERE a.kind = t.kind AND a.name = t.name
            """,
            [[k for k, _ in keys], [n for _, n in keys], [blocked[key] for key in keys]],
        )


def activity_update(
    *,
    activity: Activity,
    display_name: str,
    description: str,
    role: str,
    status: str,
) -> Activity:
    """Save what a marketer set on an activity. Blocking takes effect on the next request:
    ingest reads the blocked activities on every request, uncached."""
    activity.display_name = display_name.strip()
    activity.description = description.strip()
    activity.role = role
    activity.status = status
    activity.save(update_fields=["display_name", "description", "role", "status"])
    return activity


def field_update(
    *,
    field: DiscoveredField,
    display_name: str,
    description: str,
    personal: bool,
    pinned_type: str,
) -> DiscoveredField:
    """Save what a marketer set on a property or a profile attribute. Marking a field
    personal drops the example values it kept, and keeps none from then on."""
    field.display_name = display_name.strip()
    field.description = description.strip()
    field.personal = personal
    field.pinned_type = pinned_type
    update = ["display_name", "description", "personal", "pinned_type"]
    if personal and field.examples:
        field.examples = []
        update.append("examples")
    field.save(update_fields=update)
    return field
