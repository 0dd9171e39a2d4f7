"""The dashboard's figures: events per hour and per day by source, the top activities and
their trend, new profiles, the known share, orders and revenue."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Aggregate, Count, FloatField, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from ingestion.models import Activity, Source
from ingestion.rollups import HourCount, event_hour_counts
from profiles.models import Order, Profile

HOURS = 24
DAYS = 30
TREND_DAYS = 7
TOP_ACTIVITIES = 8

# Orders that stand, as the profiles' own counts read them (docs/profiles.md).
STANDING = (Order.Status.COMPLETED, Order.Status.PARTLY_REFUNDED)

CALL_LABELS = {
    "page": "Page viewed",
    "screen": "Screen viewed",
    "identify": "Identify calls",
    "group": "Group calls",
    "alias": "Alias calls",
}


@dataclass(frozen=True)
class SourceSeries:
    source_id: int
    name: str
    values: list[int]

    @property
    def total(self) -> int:
        return sum(self.values)


@dataclass(frozen=True)
class ActivityTrend:
    type: str
    name: str
    label: str
    activity_id: int | None
    # Events in the last 7 days and the 7 before.
    count: int
    previous: int
    # Events per day over the last 14 days, oldest first.
    daily: list[int]

    @property
    def change(self) -> float | None:
        """The change from the previous 7 days, as a fraction (0.25 is +25%)."""
        if not self.previous:
            return None
        return (self.count - self.previous) / self.previous


# An order is an outlier when its net revenue is more than this many times the median order's
# of the same 30 days (a test order of 999,999, a price typed in cents): it is shown apart so
# it cannot hide what the other orders did. The median needs a few orders to mean anything.
OUTLIER_FACTOR = 10
OUTLIER_MIN_ORDERS = 5
OUTLIERS_LISTED = 5


@dataclass(frozen=True)
class OutlierOrder:
    order_id: str
    profile_id: int
    placed_at: datetime
    net_revenue: Decimal


@dataclass
class Dashboard:
    now: datetime
    # The start of each of the last 24 hours (UTC; pages show them in local time), oldest first.
    hours: list[datetime]
    hourly: list[SourceSeries]
    # The last 30 days (local dates), oldest first.
    days: list[date]
    daily: list[SourceSeries]
    top_activities: list[ActivityTrend]
    new_profiles: int
    new_profiles_daily: list[int]
    active_profiles: int
    known_profiles: int
    orders: int
    orders_previous: int
    revenue: Decimal
    revenue_previous: Decimal
    revenue_daily: list[float] = field(default_factory=list)
    # Orders far above the median (OUTLIER_FACTOR), the largest first (at most
    # OUTLIERS_LISTED), with how many there are and their sum; the revenue without them, per day.
    median_order: Decimal | None = None
    outliers: list[OutlierOrder] = field(default_factory=list)
    outliers_count: int = 0
    outliers_revenue: Decimal = Decimal("0")
    revenue_daily_typical: list[float] = field(default_factory=list)
    # More events wait to be counted than a page counts live (the beat task is behind).
    behind: bool = False

    @property
    def anonymous_profiles(self) -> int:
        return self.active_profiles - self.known_profiles

    @property
    def known_share(self) -> float | None:
        return self.known_profiles / self.active_profiles if self.active_profiles else None

    @property
    def revenue_typical(self) -> Decimal:
        """Net revenue of the last 30 days without the outlier orders."""
        return self.revenue - self.outliers_revenue

    @property
    def events_24h(self) -> int:
        return sum(series.total for series in self.hourly)


def dashboard_figures(*, now: datetime | None = None) -> Dashboard:
    """Every figure of the dashboard, as of `now`: events from the hourly rollup (one read
    of 30 days of it), profiles and orders from their tables (three aggregate queries)."""
    now = now or timezone.now()
    local_now = timezone.localtime(now)
    today = local_now.date()
    days = [today - timedelta(days=DAYS - 1 - n) for n in range(DAYS)]
    this_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [this_hour - timedelta(hours=HOURS - 1 - n) for n in range(HOURS)]
    start = _day_start(days[0])
    counts = event_hour_counts(start=start, end=now + timedelta(hours=1))
    hourly, daily = _per_source(counts.rows, hours=hours, days=days)
    dashboard = Dashboard(
        now=now,
        hours=hours,
        hourly=hourly,
        days=days,
        daily=daily,
        top_activities=_top_activities(counts.rows, days=days),
        behind=counts.behind,
        **_profile_figures(start=start, days=days, now=now),
        **_order_figures(start=start, days=days),
    )
    return dashboard


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _per_source(
    rows: list[HourCount], *, hours: list[datetime], days: list[date]
) -> tuple[list[SourceSeries], list[SourceSeries]]:
    hour_index = {hour: n for n, hour in enumerate(hours)}
    day_index = {day: n for n, day in enumerate(days)}
    per_hour: dict[int, list[int]] = defaultdict(lambda: [0] * len(hours))
    per_day: dict[int, list[int]] = defaultdict(lambda: [0] * len(days))
    for row in rows:
        n = hour_index.get(row.hour)
        if n is not None:
            per_hour[row.source_id][n] += row.count
        n = day_index.get(timezone.localtime(row.hour).date())
        if n is not None:
            per_day[row.source_id][n] += row.count
    names = dict(Source.objects.filter(pk__in=per_day).values_list("pk", "name"))
    # The busiest source first, so its colour is the same in both charts.
    order = sorted(per_day, key=lambda source: (-sum(per_day[source]), names.get(source, "")))
    return (
        [SourceSeries(s, names.get(s, f"#{s}"), per_hour[s]) for s in order],
        [SourceSeries(s, names.get(s, f"#{s}"), per_day[s]) for s in order],
    )


def _top_activities(rows: list[HourCount], *, days: list[date]) -> list[ActivityTrend]:
    span = 2 * TREND_DAYS
    recent = days[-span:]
    index = {day: n for n, day in enumerate(recent)}
    daily: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * span)
    for row in rows:
        n = index.get(timezone.localtime(row.hour).date())
        if n is not None:
            daily[(row.type, row.name)][n] += row.count
    ranked = sorted(daily, key=lambda key: (-sum(daily[key][TREND_DAYS:]), key))[:TOP_ACTIVITIES]
    catalogue = {
        (a.kind, a.name): a
        for a in Activity.objects.filter(
            Q(kind="track", name__in=[name for kind, name in ranked if kind == "track"])
            | Q(kind__in=["page", "screen"], name="")
        )
    }
    trends = []
    for kind, name in ranked:
        activity = catalogue.get((kind, name))
        label = activity.label if activity else (name if kind == "track" else CALL_LABELS[kind])
        values = daily[(kind, name)]
        trends.append(
            ActivityTrend(
                type=kind,
                name=name,
                label=label,
                activity_id=activity.pk if activity else None,
                count=sum(values[TREND_DAYS:]),
                previous=sum(values[:TREND_DAYS]),
                daily=values,
            )
        )
    return [trend for trend in trends if trend.count or trend.previous]


def _profile_figures(*, start: datetime, days: list[date], now: datetime) -> dict:
    """New profiles (first seen in the last 30 days) per day, and of the people seen in the
    last 30 days, how many are known (a user id or an email)."""
    new = (
        Profile.objects.filter(first_seen__gte=start, first_seen__lte=now)
        .annotate(day=TruncDate("first_seen", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(count=Count("id"))
        .order_by()
    )
    per_day = dict.fromkeys(days, 0)
    for row in new:
        if row["day"] in per_day:
            per_day[row["day"]] += row["count"]
    seen = Profile.objects.filter(last_seen__gte=start).aggregate(
        active=Count("id"), known=Count("id", filter=~Q(user_id="") | ~Q(email=""))
    )
    return {
        "new_profiles": sum(per_day.values()),
        "new_profiles_daily": list(per_day.values()),
        "active_profiles": seen["active"],
        "known_profiles": seen["known"],
    }


def _order_figures(*, start: datetime, days: list[date]) -> dict:
    """Orders that stand and their net revenue (refunds and cancellations taken off), over
    the last 30 days and the 30 before, by the time each order was placed."""
    previous_start = start - timedelta(days=DAYS)
    orders = Order.objects.filter(placed_at__gte=previous_start)
    totals = orders.aggregate(
        orders=Count("id", filter=Q(placed_at__gte=start, status__in=STANDING)),
        revenue=Sum("net_revenue", filter=Q(placed_at__gte=start)),
        orders_previous=Count("id", filter=Q(placed_at__lt=start, status__in=STANDING)),
        revenue_previous=Sum("net_revenue", filter=Q(placed_at__lt=start)),
    )
    per_day = dict.fromkeys(days, 0.0)
    rows = (
        orders.filter(placed_at__gte=start)
        .annotate(day=TruncDate("placed_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(revenue=Sum("net_revenue"))
        .order_by()
    )
    for row in rows:
        if row["day"] in per_day:
            per_day[row["day"]] += float(row["revenue"] or 0)
    outliers = _outlier_figures(orders.filter(placed_at__gte=start, status__in=STANDING))
    typical = dict(per_day)
    for day, revenue in outliers.pop("outliers_daily").items():
        if day in typical:
            typical[day] -= revenue
    return {
        "orders": totals["orders"],
        "orders_previous": totals["orders_previous"],
        "revenue": totals["revenue"] or Decimal("0"),
        "revenue_previous": totals["revenue_previous"] or Decimal("0"),
        "revenue_daily": list(per_day.values()),
        "revenue_daily_typical": list(typical.values()),
        **outliers,
    }


class _Median(Aggregate):
    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _outlier_figures(standing: QuerySet[Order]) -> dict:
    """The orders of `standing` whose net revenue is more than OUTLIER_FACTOR times the
    median's: the median (one aggregate), then the outliers (one query, all of them: they are
    few by definition, or the median would be higher)."""
    found: dict = {
        "median_order": None,
        "outliers": [],
        "outliers_count": 0,
        "outliers_revenue": Decimal("0"),
        "outliers_daily": {},
    }
    paid = standing.filter(net_revenue__gt=0)
    summary = paid.aggregate(
        count=Count("id"),
        median=_Median("net_revenue"),
    )
    if summary["count"] < OUTLIER_MIN_ORDERS or not summary["median"]:
        return found
    median = Decimal(str(summary["median"])).quantize(Decimal("0.01"))
    found["median_order"] = median
    big = list(
        paid.filter(net_revenue__gt=median * OUTLIER_FACTOR)
        .order_by("-net_revenue", "pk")
        .values_list("order_id", "profile_id", "placed_at", "net_revenue")
    )
    daily: dict[date, float] = defaultdict(float)
    for *_, placed_at, revenue in big:
        daily[timezone.localtime(placed_at).date()] += float(revenue)
    found.update(
        outliers=[OutlierOrder(*row) for row in big[:OUTLIERS_LISTED]],
        outliers_count=len(big),
        outliers_revenue=sum((row[3] for row in big), Decimal("0")),
        outliers_daily=dict(daily),
    )
    return found
