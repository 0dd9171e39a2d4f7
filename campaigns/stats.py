"""What a campaign earned: conversions after its messages, the revenue of those orders, and
the lift against its control group.

- A **conversion** is an order by the person (the catalog's "order completed", as kept in
  `profiles.Order`, cancelled orders left out) placed after a message was sent and within
  the campaign's conversion window (`conversion_days`) of it.
- **Attributed revenue** is the net revenue (site currency, refunds deducted) of the distinct
  orders that fall in any sent message's window: an order counts once, however many
  messages preceded it.
- **Lift** compares the share of people who ordered within the window of their due time, for
  enrollments that were sent and for those held back as the control group. Below
  MIN_GROUP in either group the page says there is not enough data.

Each figure is one grouped query (an EXISTS over `order_profile_time`), whatever the number
of messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils import timezone

from campaigns.content import money
from campaigns.models import Campaign, Enrollment, Message
from profiles.models import Order

MIN_GROUP = 30

State = Enrollment.State


@dataclass
class Group:
    """One side of the lift: how many enrollments, and how many of them ordered."""

    size: int = 0
    converted: int = 0

    @property
    def rate(self) -> float | None:
        return self.converted / self.size if self.size else None

    @property
    def percent(self) -> float | None:
        return _percent(self.rate)


@dataclass
class Outcomes:
    """Conversions, attributed revenue and lift for the messages and enrollments of the
    last `days` days."""

    days: int
    window_days: int
    messages: int = 0
    converted_messages: int = 0
    orders: int = 0
    revenue: Decimal = Decimal("0")
    sent: Group | None = None
    control: Group | None = None
    min_group: int = MIN_GROUP

    @property
    def conversion_rate(self) -> float | None:
        return self.converted_messages / self.messages if self.messages else None

    @property
    def enough_data(self) -> bool:
        return (
            self.sent is not None
            and self.control is not None
            and self.sent.size >= MIN_GROUP
            and self.control.size >= MIN_GROUP
        )

    @property
    def difference(self) -> float | None:
        """Sent minus control conversion rate (0.02 = two percentage points)."""
        if self.sent is None or self.control is None:
            return None
        if self.sent.rate is None or self.control.rate is None:
            return None
        return self.sent.rate - self.control.rate

    @property
    def relative_lift(self) -> float | None:
        """The difference as a share of the control group's rate (0.25 = 25% more)."""
        difference = self.difference
        if difference is None or not self.control or not self.control.rate:
            return None
        return difference / self.control.rate

    @property
    def conversion_percent(self) -> float | None:
        return _percent(self.conversion_rate)

    @property
    def difference_points(self) -> float | None:
        return _percent(self.difference)

    @property
    def relative_percent(self) -> float | None:
        return _percent(self.relative_lift)

    @property
    def revenue_display(self) -> str:
        return money(self.revenue)


def _percent(share: float | None) -> float | None:
    return None if share is None else share * 100


def _live_orders():
    return Order.objects.exclude(status=Order.Status.CANCELLED)


def campaign_outcomes(*, campaign: Campaign, days: int, now: datetime | None = None) -> Outcomes:
    """Conversions, attributed revenue and lift for the campaign's last `days` days: three
    grouped queries."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    window = timedelta(days=campaign.conversion_days)
    outcomes = Outcomes(days=days, window_days=campaign.conversion_days)

    # Messages sent for an enrollment (test sends have none) in the period.
    sent = Message.objects.filter(
        campaign=campaign,
        status=Message.Status.SENT,
        enrollment__isnull=False,
        profile__isnull=False,
        sent_at__gte=since,
        sent_at__lte=now,
    )
    converting = _live_orders().filter(
        profile_id=OuterRef("profile_id"),
        placed_at__gt=OuterRef("sent_at"),
        placed_at__lte=OuterRef("sent_at") + window,
    )
    counts = sent.order_by().aggregate(
        n=Count("id"), converted=Count("id", filter=Exists(converting))
    )
    outcomes.messages = counts["n"] or 0
    outcomes.converted_messages = counts["converted"] or 0

    # Each order once, when any sent message's window holds it.
    preceded = sent.filter(
        profile_id=OuterRef("profile_id"),
        sent_at__lt=OuterRef("placed_at"),
        sent_at__gte=OuterRef("placed_at") - window,
    )
    attributed = (
        _live_orders()
        .filter(placed_at__gt=since)
        .filter(Exists(preceded))
        .aggregate(n=Count("id"), revenue=Sum("net_revenue"))
    )
    outcomes.orders = attributed["n"] or 0
    outcomes.revenue = attributed["revenue"] or Decimal("0")

    # Lift: sent against control, each measured from its due time.
    ordered = _live_orders().filter(
        profile_id=OuterRef("profile_id"),
        placed_at__gt=OuterRef("due_at"),
        placed_at__lte=OuterRef("due_at") + window,
    )
    rows = (
        Enrollment.objects.filter(
            campaign=campaign, created_at__gte=since, state__in=[State.SENT, State.CONTROL]
        )
        .annotate(ordered=Exists(ordered))
        .values("state")
        .annotate(n=Count("id"), converted=Count("id", filter=Q(ordered=True)))
        .order_by()
    )
    groups = {row["state"]: Group(size=row["n"], converted=row["converted"]) for row in rows}
    outcomes.sent = groups.get(State.SENT, Group())
    outcomes.control = groups.get(State.CONTROL, Group())
    return outcomes
