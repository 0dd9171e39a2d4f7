"""The dry run: a draft campaign replayed over real events with controlled time. It counts
who would have entered, exited, not been sent (and why) and received a message, shows a
sample of those messages, and leaves no row behind and no email sent."""

from __future__ import annotations

from datetime import time

import pytest
from django.core import mail

from campaigns.defaults import campaigns_setup
from campaigns.dryrun import campaign_dry_run, days_clean
from campaigns.models import Campaign, Enrollment, Message
from tests.campaigns.conftest import added, identify, later, ordered, send, track

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft_cart(db) -> Campaign:
    campaigns_setup()
    return Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)


@pytest.fixture
def shoppers(ingest, clock, draft_cart) -> None:
    """Four carts while the campaign is a draft: nobody enters for real."""
    send(
        ingest,
        identify("ann", timezone="UTC"),
        added("ann", "A", name="Alpine boot", price=120),
        identify("bob"),
        added("bob", "B", name="Beach hat", price=20),
        identify("cat", consent=False),
        added("cat", "C", price=5),
        track("visitor-1", "Product Added", anonymous=True, sku="D", price=3),
    )
    later(clock, minutes=30)
    send(ingest, ordered("bob", "o-1", {"sku": "B", "price": 20}))
    later(clock, days=2)


def test_the_dry_run_counts_what_would_have_happened(shoppers, draft_cart):
    result = campaign_dry_run(campaign=draft_cart, days=7)

    assert result.error == "" and result.stopped == ""
    assert (result.entered, result.people) == (4, 4)
    assert result.sent == 1
    assert result.exited_reasons == [("converted: order completed", 1)]
    assert dict(result.suppressed_reasons) == {"no consent": 1, "no email": 1}
    assert (result.control, result.failed, result.waiting) == (0, 0, 0)
    [sample] = result.samples
    assert sample.recipient == "ann@example.com"
    assert sample.subject == "You left 1 item in your cart"
    assert "Alpine boot" in sample.text


def test_the_dry_run_records_nothing_and_sends_nothing(shoppers, draft_cart):
    campaigns = Campaign.objects.count()

    campaign_dry_run(campaign=draft_cart, days=7)

    assert mail.outbox == []
    assert Enrollment.objects.count() == 0
    assert Message.objects.count() == 0
    assert Campaign.objects.count() == campaigns
    draft_cart.refresh_from_db()
    assert draft_cart.status == Campaign.Status.DRAFT


def test_the_dry_run_leaves_an_active_campaigns_real_enrollments_alone(ingest, clock, draft_cart):
    Campaign.objects.filter(pk=draft_cart.pk).update(status=Campaign.Status.ACTIVE)
    send(ingest, identify("ann"), added("ann", "A", price=1))
    real = list(Enrollment.objects.values_list("pk", "state"))
    later(clock, hours=2)

    result = campaign_dry_run(campaign=draft_cart, days=1)

    # The re-entry rule starts clean on the copy: the real waiting enrollment blocks nothing.
    assert (result.entered, result.sent) == (1, 1)
    assert list(Enrollment.objects.values_list("pk", "state")) == real
    assert Message.objects.count() == 0 and mail.outbox == []


def test_only_the_replayed_days_count(shoppers, draft_cart, clock):
    later(clock, days=3)
    assert campaign_dry_run(campaign=draft_cart, days=1).entered == 0
    assert campaign_dry_run(campaign=draft_cart, days=7).entered == 4


def test_quiet_hours_hold_then_send_in_the_replay(shoppers, draft_cart):
    # Due at 13:00 UTC, inside quiet hours from 12:30 to 14:00 in Ann's zone.
    draft_cart.quiet_start, draft_cart.quiet_end = time(12, 30), time(14, 0)
    draft_cart.save()

    result = campaign_dry_run(campaign=draft_cart, days=7)

    assert result.held >= 1
    assert result.sent == 1
    assert result.samples[0].at.hour == 14


def test_what_is_not_due_yet_is_still_waiting(ingest, clock, draft_cart):
    send(ingest, identify("ann"), added("ann", "A", price=1))
    later(clock, minutes=10)
    result = campaign_dry_run(campaign=draft_cart, days=1)
    assert (result.entered, result.waiting, result.sent) == (1, 1, 0)


def test_the_replay_is_bounded(shoppers, draft_cart):
    result = campaign_dry_run(campaign=draft_cart, days=7, max_enrollments=2)
    assert result.entered == 2
    assert "stopped after 2 entries" in result.stopped
    assert result.stopped_at is not None

    result = campaign_dry_run(campaign=draft_cart, days=7, max_events=3)
    assert result.events == 3
    assert "first 3 events" in result.stopped


@pytest.mark.parametrize(
    ("value", "expected"), [("7", 7), (" 30 ", 30), ("1", 1), ("0", None), ("31", None)]
)
def test_days_are_between_one_and_thirty(value, expected):
    if expected is None:
        with pytest.raises(ValueError, match="between 1 and 30"):
            days_clean(value)
    else:
        assert days_clean(value) == expected


def test_days_must_be_a_number():
    with pytest.raises(ValueError, match="whole number"):
        days_clean("a week")


# --- journeys ------------------------------------------------------------------------------


def test_a_journey_draft_is_replayed_step_by_step_with_why_each_other_person_got_nothing(
    shoppers,
):
    from campaigns.journeys.services import journey_create, journey_draft_save
    from cdp_project.access.actors import Actor

    actor = Actor.system("test")
    journey = journey_create(actor=actor, name="Carts", template="browse_cart_order")
    # Never published: the draft is what is replayed.
    tree = journey.draft
    assert journey_draft_save(actor=actor, campaign=journey, definition=tree) == []

    result = campaign_dry_run(campaign=journey, days=7)

    assert result.error == ""
    assert (result.entered, result.sent) == (4, 1)
    steps = {step.step: step for step in result.steps}
    assert [step.step for step in result.steps] == ["wait_order", "opted_in", "cart", "done"]
    # Bob ordered his cart within the hour (no cart id: the person alone is matched).
    assert dict(steps["wait_order"].outcomes) == {"The activity came": 1, "Timed out": 3}
    assert dict(steps["opted_in"].outcomes) == {"Yes": 1, "No": 2}
    assert dict(steps["cart"].outcomes) == {"Message handed to the channel": 1}
    assert steps["opted_in"].depth == 1 and steps["cart"].branch == "yes"
    why = {row.person: row.reason for row in result.not_sent}
    # Cat and the anonymous visitor have no consent: the split's "no" branch exits.
    assert why.pop("Cat") == why.pop(next(p for p in why if p.startswith("Anonymous")))
    assert why == {"Bob": "the path it took has no message"}
    assert [row.reason for row in result.not_sent].count("reached an exit step") == 2
    assert Enrollment.objects.filter(campaign=journey).count() == 0
    assert Message.objects.count() == 0 and mail.outbox == []


def test_a_journey_on_a_segment_cannot_be_replayed_and_says_why(db):
    from campaigns.journeys.services import journey_create
    from cdp_project.access.actors import Actor
    from segments.models import Segment

    lapsed = Segment.objects.create(name="Lapsed", definition={"kind": "group", "match": "all"})
    journey = journey_create(actor=Actor.system("test"), name="Back", template="win_back")
    journey.draft["trigger"]["segment"] = lapsed.pk
    journey.save()
    result = campaign_dry_run(campaign=journey, days=7)
    assert "starts on a segment" in result.error
