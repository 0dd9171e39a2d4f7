"""Reads of the catalog, for its pages and for the apps built on it (profiles, segments,
campaigns): which activities exist and what they mean, the types of their fields, and
the product catalog."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from ingestion.catalog.roles import SPEC_NAMES
from ingestion.models import (
    Activity,
    ActivityDay,
    ActivityProperty,
    CatalogCount,
    Event,
    Product,
    ProfileAttribute,
)

SPARKLINE_DAYS = 30


def activity_list(
    *, search: str = "", status: str = "", role: str = "", kind: str = ""
) -> QuerySet[Activity]:
    """Activities for the catalog page: hidden ones only when asked for by status."""
    activities = Activity.objects.all()
    if status:
        activities = activities.filter(status=status)
    else:
        activities = activities.exclude(status=Activity.Status.HIDDEN)
    if role == "any":
        activities = activities.exclude(role="")
    elif role == "none":
        activities = activities.filter(role="")
    elif role:
        activities = activities.filter(role=role)
    if kind:
        activities = activities.filter(kind=kind)
    if search:
        activities = activities.filter(
            Q(name__icontains=search)
            | Q(display_name__icontains=search)
            | Q(description__icontains=search)
        )
    return activities.order_by("-last_seen", "kind", "name")


def activity_status_counts() -> dict[str, int]:
    counts = dict.fromkeys(Activity.Status.values, 0)
    for row in Activity.objects.values("status").order_by().annotate(count=Count("id")):
        counts[row["status"]] = row["count"]
    return counts


def activity_daily_volumes(
    *, activity_ids: Iterable[int], days: int = SPARKLINE_DAYS, today: date | None = None
) -> dict[int, list[int]]:
    """Events per day over the last `days` days (oldest first), per activity: one query."""
    today = today or timezone.localdate()
    start = today - timedelta(days=days - 1)
    volumes: dict[int, list[int]] = defaultdict(lambda: [0] * days)
    rows = ActivityDay.objects.filter(
        activity_id__in=list(activity_ids), day__gte=start, day__lte=today
    ).values_list("activity_id", "day", "count")
    for activity_id, day, count in rows:
        volumes[activity_id][(day - start).days] += count
    return volumes


@dataclass(frozen=True)
class ActivityRow:
    """An activity as the list shows it: with its events per day (oldest first)."""

    activity: Activity
    daily: list[int]


def activity_rows(activities: Sequence[Activity]) -> list[ActivityRow]:
    """The activities with their last `SPARKLINE_DAYS` days of volume: one query."""
    volumes = activity_daily_volumes(activity_ids=[activity.pk for activity in activities])
    return [ActivityRow(activity, volumes[activity.pk]) for activity in activities]


def activity_event_filter(activity: Activity) -> Q:
    """The events of an activity, as a filter on `Event`."""
    if activity.kind == Activity.Kind.TRACK:
        return Q(type="track", name=activity.name)
    return Q(type=activity.kind)


def activity_recent_events(*, activity: Activity, limit: int = 10) -> QuerySet[Event]:
    """The latest events of an activity: a track event's through the (name, timestamp)
    index; page and screen calls, which no index singles out, newest stored first."""
    events = Event.objects.filter(activity_event_filter(activity)).select_related("source")
    if activity.kind == Activity.Kind.TRACK:
        return events.order_by("-timestamp")[:limit]
    return events.order_by("-pk")[:limit]


def activity_properties(*, activity: Activity) -> QuerySet[ActivityProperty]:
    return activity.properties.order_by("path")


def activities_for_role(*, role: str) -> list[Activity]:
    """The activities a marketer (or the defaults) gave a commerce role, blocked ones
    excluded: campaigns and profiles read events through these."""
    return list(Activity.objects.filter(role=role).exclude(status=Activity.Status.BLOCKED))


def track_names_for_role(*, role: str) -> set[str]:
    """The track event names that carry a commerce role: the catalog's mapping (blocked
    activities excluded), plus the spec's name for the role while no activity of that name
    is catalogued yet (its events get the role by default once discovered)."""
    spec = {name for name, spec_role in SPEC_NAMES.items() if spec_role == role}
    found = Activity.objects.filter(kind=Activity.Kind.TRACK).filter(
        Q(role=role) | Q(name__in=spec)
    )
    catalogued = {activity.name for activity in found}
    names = {
        activity.name
        for activity in found
        if activity.role == role and activity.status != Activity.Status.BLOCKED
    }
    return names | (spec - catalogued)


def identify_count() -> int:
    row = CatalogCount.objects.filter(key="identify").first()
    return row.count if row else 0


def profile_attribute_list(*, search: str = "") -> QuerySet[ProfileAttribute]:
    attributes = ProfileAttribute.objects.order_by("path")
    if search:
        attributes = attributes.filter(
            Q(path__icontains=search) | Q(display_name__icontains=search)
        )
    return attributes


def product_search(*, search: str = "", category: str = "", brand: str = "") -> QuerySet[Product]:
    products = Product.objects.all()
    if search:
        products = products.filter(
            Q(name__icontains=search)
            | Q(key__iexact=search)
            | Q(sku__iexact=search)
            | Q(product_id__iexact=search)
            | Q(category__icontains=search)
            | Q(brand__icontains=search)
        )
    if category:
        products = products.filter(category=category)
    if brand:
        products = products.filter(brand=brand)
    return products.order_by("name", "key")


def products_by_ids(ids: Iterable[str]) -> dict[str, Product]:
    """The catalog's products for SKUs or product ids, keyed by each id asked for: one
    query. What profiles and campaigns use to show a full product from a bare SKU."""
    ids = {str(i) for i in ids if i not in (None, "")}
    if not ids:
        return {}
    found: dict[str, Product] = {}
    products = Product.objects.filter(Q(key__in=ids) | Q(sku__in=ids) | Q(product_id__in=ids))
    for product in products:
        for value in (product.product_id, product.sku, product.key):
            if value in ids:
                found[value] = product
    return found
