"""Conversions, attributed revenue and lift, with controlled time: orders inside the
conversion window after a send count, each order once; lift compares sent and control."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest

from campaigns.defaults import campaigns_setup
from campaigns.models import Campaign, Enrollment, Message
from campaigns.stats import campaign_outcomes
from profiles.models import Order, Profile
from tests.campaigns.conftest import NOW

pytestmark = pytest.mark.django_db

State = Enrollment.State
_n = itertools.count(1)


@pytest.fixture
def cart(db) -> Campaign:
    campaigns_setup()
    return Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)  # a 3-day window


def person() -> Profile:
    n = next(_n)
    return Profile.objects.create(user_id=f"p{n}", email=f"p{n}@example.com")


def enrolled(campaign: Campaign, profile: Profile, state: str, due) -> Enrollment:
    return Enrollment.objects.create(
        campaign=campaign,
        profile=profile,
        state=state,
        trigger_at=due - timedelta(hours=1),
        due_at=due,
        created_at=due - timedelta(hours=1),
    )


def sent(campaign: Campaign, profile: Profile, at, *, test: bool = False) -> Message:
    enrollment = None if test else enrolled(campaign, profile, State.SENT, at)
    return Message.objects.create(
        campaign=campaign,
        enrollment=enrollment,
        profile=None if test else profile,
        channel="email",
        recipient=profile.email,
        status=Message.Status.SENT,
        idempotency_key=f"k{next(_n)}",
        sent_at=at,
        created_at=at,
    )


def order(profile: Profile, at, revenue: str, **fields) -> Order:
    return Order.objects.create(
        profile=profile,
        order_id=f"o{next(_n)}",
        placed_at=at,
        total=Decimal(revenue),
        net_revenue=Decimal(revenue),
        **fields,
    )


def test_orders_in_the_window_after_a_send_convert_and_count_once(cart, clock):
    ann, bob, cat = person(), person(), person()
    sent(cart, ann, NOW - timedelta(days=5))
    sent(cart, ann, NOW - timedelta(days=4, hours=12))
    order(ann, NOW - timedelta(days=4), "100.00")  # inside both messages' windows: once
    order(ann, NOW - timedelta(days=6), "70.00")  # before the messages
    order(ann, NOW - timedelta(hours=12), "50.00")  # after both windows closed
    sent(cart, bob, NOW - timedelta(days=2))
    order(bob, NOW - timedelta(days=1), "30.00", status=Order.Status.CANCELLED)
    sent(cart, cat, NOW - timedelta(days=1), test=True)  # a test send counts for nothing
    order(cat, NOW - timedelta(hours=1), "999.00")

    outcomes = campaign_outcomes(campaign=cart, days=30)

    assert (outcomes.messages, outcomes.converted_messages) == (3, 2)
    assert outcomes.orders == 1
    assert outcomes.revenue == Decimal("100.00")
    assert outcomes.revenue_display == "100.00 USD"
    assert round(outcomes.conversion_percent, 1) == 66.7


def test_the_period_and_the_window_follow_the_settings(cart, clock):
    ann = person()
    sent(cart, ann, NOW - timedelta(days=20))
    order(ann, NOW - timedelta(days=16), "10.00")  # 4 days later: outside a 3-day window
    assert campaign_outcomes(campaign=cart, days=7).messages == 0
    assert campaign_outcomes(campaign=cart, days=30).orders == 0
    cart.conversion_days = 5
    assert campaign_outcomes(campaign=cart, days=30).orders == 1


def test_lift_compares_sent_and_control_from_their_due_time(cart, clock):
    due = NOW - timedelta(days=5)
    for n in range(30):
        profile = person()
        enrolled(cart, profile, State.SENT, due)
        if n < 6:
            order(profile, due + timedelta(days=1), "20.00")
    for n in range(40):
        profile = person()
        enrolled(cart, profile, State.CONTROL, due)
        if n < 4:
            order(profile, due + timedelta(days=2), "20.00")
        elif n < 8:
            order(profile, due + timedelta(days=4), "20.00")  # after the window

    outcomes = campaign_outcomes(campaign=cart, days=30)

    assert (outcomes.sent.size, outcomes.sent.converted) == (30, 6)
    assert (outcomes.control.size, outcomes.control.converted) == (40, 4)
    assert outcomes.enough_data
    assert round(outcomes.difference_points, 1) == 10.0
    assert round(outcomes.relative_percent) == 100


def test_small_groups_are_not_enough_data(cart, clock):
    for _ in range(29):
        enrolled(cart, person(), State.CONTROL, NOW - timedelta(days=1))
    for _ in range(40):
        enrolled(cart, person(), State.SENT, NOW - timedelta(days=1))
    outcomes = campaign_outcomes(campaign=cart, days=30)
    assert not outcomes.enough_data
    assert outcomes.difference_points == 0


def test_the_outcomes_take_three_queries_whatever_the_volume(
    cart, clock, django_assert_num_queries
):
    for _ in range(20):
        profile = person()
        sent(cart, profile, NOW - timedelta(days=2))
        order(profile, NOW - timedelta(days=1), "5.00")
        enrolled(cart, person(), State.CONTROL, NOW - timedelta(days=2))
    with django_assert_num_queries(3):
        outcomes = campaign_outcomes(campaign=cart, days=30)
    assert (outcomes.messages, outcomes.orders, outcomes.revenue) == (20, 20, Decimal("100.00"))
