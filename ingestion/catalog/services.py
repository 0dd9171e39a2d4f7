"""Writes for the catalog that marketers make: names, descriptions, roles, status, types."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from django.db import DatabaseError, connection

from cdp_project.access.actors import Actor
from cdp_project.access.audit import action, audit_write
from ingestion.catalog.paths import personal_kind_text
from ingestion.catalog.signals import activity_points_changed
from ingestion.models import Activity, ActivityProperty, DiscoveredField, ProfileAttribute

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


@action
def activity_update(
    *,
    actor: Actor,
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
    background recompute of the profiles that did the activity (profiles receives
    `activity_points_changed`)."""
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
        activity_points_changed.send(sender=Activity, activity_id=activity.pk)
    audit_write(
        actor=actor,
        action="activity.update",
        obj=activity,
        summary=f"Saved activity “{activity.label}” (status {activity.status}, "
        f"role {activity.role or 'none'})",
    )
    return activity


@action
def field_update(
    *,
    actor: Actor,
    field: DiscoveredField,
    display_name: str,
    description: str,
    personal: bool,
    pinned_type: str,
) -> DiscoveredField:
    """Save what a marketer set on a property or a profile attribute. Marking a field
    personal drops the example values it kept, and keeps none from then on."""
    unmarked = field.personal and not personal
    field.display_name = display_name.strip()
    field.description = description.strip()
    field.personal = personal
    field.pinned_type = pinned_type
    update = ["display_name", "description", "personal", "pinned_type"]
    if personal:
        _personal_clear(field, update)
    elif unmarked:
        # A marketer's "not personal": the catalog does not suggest it again.
        field.personal_dismissed = True
        update.append("personal_dismissed")
    field.save(update_fields=update)
    audit_write(
        actor=actor,
        action="field.update",
        obj=field,
        summary=f"Saved field “{field.label}”" + (" (personal)" if field.personal else ""),
    )
    return field


def _personal_clear(field: DiscoveredField, update: list[str]) -> None:
    """A field now personal keeps no examples, and needs no suggestion."""
    field.examples = []
    field.example_origins = []
    field.personal_suggested = ""
    update += ["examples", "example_origins", "personal_suggested"]


@action
def field_personal_confirm(*, actor: Actor, field: DiscoveredField) -> DiscoveredField:
    """A marketer agrees with the catalog's suggestion: the field is marked personal, its
    examples are dropped and none is kept from then on."""
    kind = personal_kind_text(field.personal_suggested)
    field.personal = True
    update = ["personal"]
    _personal_clear(field, update)
    field.save(update_fields=update)
    audit_write(
        actor=actor,
        action="field.personal_confirm",
        obj=field,
        summary=f"Marked field “{field.label}” personal"
        + (f" (its values looked like {kind})" if kind else ""),
    )
    return field


@action
def field_personal_dismiss(*, actor: Actor, field: DiscoveredField) -> DiscoveredField:
    """A marketer says the field is not personal: the suggestion goes and does not come
    back. Values that look like addresses, IBANs or card numbers are still kept only as a
    hint."""
    kind = personal_kind_text(field.personal_suggested)
    field.personal_suggested = ""
    field.personal_dismissed = True
    field.save(update_fields=["personal_suggested", "personal_dismissed"])
    audit_write(
        actor=actor,
        action="field.personal_dismiss",
        obj=field,
        summary=f"Kept field “{field.label}” not personal"
        + (f" (its values looked like {kind})" if kind else ""),
    )
    return field


def examples_scrub(
    *, profile_ids: Collection[int], values: Collection[str], personal: Callable[[Any], bool]
) -> int:
    """Remove a deleted person's values from the example values the catalog keeps of
    properties and profile attributes (profiles' deletion calls it), whatever the field's
    marking: every example whose origin is one of `profile_ids` (the person's profile and
    the profiles merged into it), and every one that `personal(example)` finds to be the
    person's (examples of no known origin, or the person's email in someone else's event).
    `values` are the person's texts, lower-cased, to find those candidates in one query
    per table. Returns how many examples were removed."""
    patterns = _like_patterns(values)
    origins = json.dumps(sorted(set(profile_ids)))
    people = set(profile_ids)
    return _examples_scrub(ActivityProperty, people, origins, patterns, personal) + _examples_scrub(
        ProfileAttribute, people, origins, patterns, personal
    )


_Discovered = TypeVar("_Discovered", ActivityProperty, ProfileAttribute)


def _examples_scrub(
    model: type[_Discovered],
    profile_ids: set[int],
    origins: str,
    patterns: list[str],
    personal: Callable[[Any], bool],
) -> int:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        # A small table (bounded by the catalog's limits), read once.
        cursor.execute(
            f"""
            SELECT id FROM {table}
            WHERE examples::text ILIKE ANY(%s)
               OR EXISTS (
                   SELECT 1 FROM jsonb_array_elements(example_origins) AS o(origin)
                   WHERE o.origin <@ %s::jsonb AND jsonb_typeof(o.origin) = 'number'
               )
            """,  # noqa: S608
            [patterns, origins],
        )
        ids = [row[0] for row in cursor.fetchall()]
    scrubbed = 0
    changed = []
    for field in model.objects.filter(pk__in=ids).only("id", "examples", "example_origins"):
        examples = list(field.examples)
        origins_of = list(field.example_origins)
        origins_of += [None] * (len(examples) - len(origins_of))
        kept = [
            (example, origin)
            for example, origin in zip(examples, origins_of, strict=False)
            if origin not in profile_ids and not personal(example)
        ]
        if len(kept) != len(examples):
            scrubbed += len(examples) - len(kept)
            field.examples = [example for example, _ in kept]
            field.example_origins = [origin for _, origin in kept]
            changed.append(field)
    model.objects.bulk_update(changed, ["examples", "example_origins"])
    return scrubbed


def _like_patterns(values: Collection[str]) -> list[str]:
    """ILIKE patterns finding a value inside JSON text as jsonb prints it."""
    patterns = []
    for value in values:
        text = json.dumps(value, ensure_ascii=False)[1:-1]
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        patterns.append(f"%{escaped}%")
    return patterns
