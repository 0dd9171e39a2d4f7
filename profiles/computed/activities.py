"""What each activity means to the computed attributes: its commerce role and the engagement
points one event of it is worth."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q

from ingestion.catalog.roles import default_role
from ingestion.models import Activity, CommerceRole, Event

Role = CommerceRole


# Engagement points per event when the activity sets none.
DEFAULT_POINTS: dict[str, float] = {
    Role.ORDER_COMPLETED: 10.0,
    Role.CHECKOUT_STARTED: 5.0,
    Role.PRODUCT_ADDED: 3.0,
    Role.PRODUCT_VIEWED: 1.0,
    Role.CART_VIEWED: 1.0,
    Role.PRODUCT_REMOVED: 0.0,
    Role.ORDER_REFUNDED: 0.0,
    Role.ORDER_CANCELLED: 0.0,
}


DEFAULT_TRACK_POINTS = 1.0


DEFAULT_VIEW_POINTS = 0.5  # page and screen calls


@dataclass(frozen=True)
class ActivityMeaning:
    role: str
    points: float


# Keyed by `activity_key(event)`; None, the key of an event of no activity, is never present,
# so looking an event up returns None for it.
ActivityMeanings = dict[tuple[str, str] | None, ActivityMeaning]


def activity_meanings(events: Iterable[Event]) -> ActivityMeanings:
    """The role and engagement points of each activity in `events` (one query)."""
    keys = {key for event in events if (key := activity_key(event)) is not None}
    if not keys:
        return {}
    condition = Q()
    for kind, name in keys:
        condition |= Q(kind=kind, name=name)
    found = {
        (a.kind, a.name): a
        for a in Activity.objects.filter(condition).only(
            "kind", "name", "role", "engagement_points"
        )
    }
    meanings: ActivityMeanings = {}
    for kind, name in keys:
        activity = found.get((kind, name))
        role = activity.role if activity else default_role(kind, name)
        points = activity.engagement_points if activity else None
        if points is None:
            points = default_points(kind, role)
        meanings[(kind, name)] = ActivityMeaning(role=role, points=points)
    return meanings


def default_points(kind: str, role: str) -> float:
    if kind in ("page", "screen"):
        return DEFAULT_VIEW_POINTS
    if role:
        return DEFAULT_POINTS.get(role, DEFAULT_TRACK_POINTS)
    return DEFAULT_TRACK_POINTS


def activity_key(event: Event) -> tuple[str, str] | None:
    if event.type == "track":
        return ("track", event.name)
    if event.type in ("page", "screen"):
        return (event.type, "")
    return None
