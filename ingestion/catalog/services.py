"""Writes for the catalog that marketers make: names, descriptions, roles, status, types."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from django.db import DatabaseError, connection, transaction

from ingestion.models import Activity, DiscoveredField

logger = logging.getLogger(__name__)


def activities_count_blocked(blocked: Counter[tuple[str, str]]) -> None:
    """Add refused events to the blocked activities' counts: one short statement per
    activity, in key order, so that concurrent requests never wait on each other in a
    cycle. Never raises: the count is a statistic, the refusal already happened."""
    try:
        with connection.cursor() as cursor:
            for kind, name in sorted(blocked):
                cursor.execute(
                    "UPDATE ingestion_activity SET blocked_count = blocked_count + %s"
                    " WHERE kind = %s AND name = %s",
                    [blocked[(kind, name)], kind, name],
                )
    except DatabaseError as exc:
        logger.warning("catalog_blocked_count_failed error=%s", exc)


def activity_update(
    *,
    activity: Activity,
    display_name: str,
    description: str,
    role: str,
    status: str,
    engagement_points: float | None = None,
) -> Activity:
    """Save what a marketer set on an activity. Blocking takes effect on the next request:
    ingest reads the blocked activities on every request, uncached. New engagement points
    (or a new role, whose default points differ) are applied to past events too, by a
    background recompute of the profiles that did the activity."""
    from profiles.tasks import engagement_points_changed

    rescore = (activity.engagement_points, activity.role) != (engagement_points, role)
    activity.display_name = display_name.strip()
    activity.description = description.strip()
    activity.role = role
    activity.status = status
    activity.engagement_points = engagement_points
    activity.save(
        update_fields=["display_name", "description", "role", "status", "engagement_points"]
    )
    if rescore:
        pk = activity.pk
        transaction.on_commit(lambda: _publish_rescore(engagement_points_changed, pk))
    return activity


def _publish_rescore(task: Any, activity_id: int) -> None:
    try:
        task.apply_async(args=[[activity_id]], retry=False)
    except Exception as exc:  # the broker is down: the save stands, say so in the log
        logger.warning("engagement_rescore_publish_failed activity=%s error=%s", activity_id, exc)


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
