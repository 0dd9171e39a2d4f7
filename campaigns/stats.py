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
from campaigns.engine import journey_of, selector_events
from campaigns.journeys.definition import Goal
from campaigns.journeys.words import activity_words
from campaigns.models import Campaign, Enrollment, JourneyVersion, Message
from ingestion.models import Event
from profiles.models import Order
from segments.tree import ActivityRole

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


# --- a journey's goal against its control group ---------------------------------------------


@dataclass
class GoalGroup(Group):
    """One side of a journey's goal: enrollments, how many reached the goal, and (for an
    order goal) the net revenue of their orders in the window."""

    revenue: Decimal | None = None

    @property
    def revenue_display(self) -> str:
        return money(self.revenue) if self.revenue is not None else "—"


@dataclass
class GoalOutcomes:
    """Those who got a message of the journey against its control group: the share who
    reached the goal within its days of entering, and the revenue of an order goal."""

    activity: str
    days: int
    messaged: GoalGroup
    control: GoalGroup
    orders: bool
    min_group: int = MIN_GROUP

    @property
    def enough_data(self) -> bool:
        return self.messaged.size >= MIN_GROUP and self.control.size >= MIN_GROUP

    @property
    def difference_points(self) -> float | None:
        if self.messaged.rate is None or self.control.rate is None:
            return None
        return _percent(self.messaged.rate - self.control.rate)


def _is_order(goal: Goal) -> bool:
    return isinstance(goal.activity, ActivityRole) and goal.activity.role == "order_completed"


def _goal_reached(goal: Goal, *, since: str) -> Exists:
    """Whether the row's person reached the goal within its days after the row's `since`:
    an order (`order_profile_time`) for an order goal, else the activity among their events."""
    window = timedelta(days=goal.days)
    if _is_order(goal):
        return Exists(
            _live_orders().filter(
                profile_id=OuterRef("profile_id"),
                placed_at__gt=OuterRef(since),
                placed_at__lte=OuterRef(since) + window,
            )
        )
    return Exists(
        selector_events(
            Event.objects.filter(
                profile_id=OuterRef("profile_id"),
                timestamp__gt=OuterRef(since),
                timestamp__lte=OuterRef(since) + window,
            ),
            goal.activity,
        )
    )


def journey_send_conversions(
    *, campaign: Campaign, version: JourneyVersion | None, goal: Goal, only_version: bool
) -> dict[str, int]:
    """By send step: how many of its sent messages were followed by the goal within its
    days: one grouped query over the journey's messages."""
    sent = Message.objects.filter(
        campaign=campaign,
        status=Message.Status.SENT,
        enrollment__isnull=False,
        profile__isnull=False,
    )
    if not only_version:
        sent = sent.filter(enrollment__version=version)
    rows = (
        sent.values("node")
        .annotate(converted=Count("id", filter=_goal_reached(goal, since="sent_at")))
        .order_by()
    )
    return {row["node"]: row["converted"] for row in rows}


def journey_goal_outcomes(
    *, campaign: Campaign, version: JourneyVersion | None, now: datetime | None = None
) -> GoalOutcomes | None:
    """The goal of a journey's version (None when it has none), for its enrollments: those
    with a message sent against those held out as the control group (state "control",
    `engine.in_control_group`). The goal is reached by its activity within `days` of entry
    (an EXISTS over `order_profile_time` for an order goal, else over the person's events);
    revenue is each order once, net, for an order goal. Two queries, three for an order
    goal."""
    goal = journey_of(campaign, version).goal
    if goal is None:
        return None
    now = now or timezone.now()
    window = timedelta(days=goal.days)
    enrollments = Enrollment.objects.filter(campaign=campaign, version=version)
    messaged = enrollments.filter(
        Exists(Message.objects.filter(enrollment=OuterRef("pk"), status=Message.Status.SENT))
    )
    control = enrollments.filter(state=State.CONTROL)
    orders = _is_order(goal)
    reached = _goal_reached(goal, since="trigger_at")
    groups = []
    for group in (messaged, control):
        counts = group.order_by().aggregate(n=Count("id"), converted=Count("id", filter=reached))
        found = GoalGroup(size=counts["n"] or 0, converted=counts["converted"] or 0)
        if orders:
            inside = group.filter(
                profile_id=OuterRef("profile_id"),
                trigger_at__lt=OuterRef("placed_at"),
                trigger_at__gte=OuterRef("placed_at") - window,
            )
            # Each order once; none predates the journey.
            revenue = (
                _live_orders()
                .filter(placed_at__gt=campaign.created_at)
                .filter(Exists(inside))
                .aggregate(revenue=Sum("net_revenue"))
            )["revenue"]
            found.revenue = revenue or Decimal("0")
        groups.append(found)
    return GoalOutcomes(
        activity=activity_words(goal.activity),
        days=goal.days,
        messaged=groups[0],
        control=groups[1],
        orders=orders,
    )
