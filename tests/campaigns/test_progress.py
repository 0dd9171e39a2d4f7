"""Seeing a journey work: the journey page's per-step counts (by version), its goal against
the control group, the enrollment list (sort, filters, keyset paging), and a person's
journeys on their page, all over rows the engine produced from ingested events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from campaigns import engine, progress, stats
from campaigns.defaults import campaigns_setup
from campaigns.models import Campaign, Enrollment, JourneyVersion, Message, StepRun
from cdp_project.devtools.benchmarks import JOURNEY_DEFINITION
from profiles.models import Profile
from tests.campaigns.conftest import NOW, added, identify, later, ordered, run, send

pytestmark = pytest.mark.django_db

State = Enrollment.State

DEFINITION = {**JOURNEY_DEFINITION, "exit_on": []}


def journey_make(definition: dict = DEFINITION, **settings) -> Campaign:
    campaign = Campaign.objects.create(
        name="Shoes in the cart",
        kind=Campaign.Kind.JOURNEY,
        status=Campaign.Status.ACTIVE,
        cap_count=0,
        reentry=Campaign.Reentry.ALWAYS,
        **settings,
    )
    version = JourneyVersion.objects.create(campaign=campaign, number=1, definition=definition)
    campaign.version = version
    campaign.save(update_fields=["version"])
    return campaign


def publish_again(campaign: Campaign) -> JourneyVersion:
    version = JourneyVersion.objects.create(
        campaign=campaign, number=campaign.versions.count() + 1, definition=DEFINITION
    )
    campaign.version = version
    campaign.save(update_fields=["version"])
    return version


@pytest.fixture
def journey(db, clock, ingest) -> Campaign:
    """Three people add to their cart at noon: ann (opted in) and bob (not) wait an hour
    for an order; cat orders at once and leaves by "yes"."""
    campaign = journey_make()
    send(ingest, identify("ann"), identify("bob", consent=False), identify("cat"))
    send(
        ingest,
        added("ann", "A", cart_id="c-ann", price=10),
        added("bob", "B", cart_id="c-bob", price=10),
        added("cat", "C", cart_id="c-cat", price=10),
    )
    run()
    later(clock, minutes=5)
    send(ingest, ordered("cat", "o-cat", {"sku": "C", "price": 10}, cart_id="c-cat", total=10))
    run()
    return campaign


def counts_of(campaign: Campaign, **kwargs) -> dict[str, progress.StepCounts]:
    found = progress.journey_progress(campaign=campaign, **kwargs)

    def walk(boxes):
        for box in boxes:
            yield box
            for way in box.branches:
                yield from walk(way.steps)

    return {box.id: box.counts for box in walk(found.steps)}


def test_each_step_counts_who_entered_waits_and_went_each_way(journey, clock):
    counts = counts_of(journey)
    wait = counts["wait_order"]
    assert wait.entered == 3
    assert wait.waiting == 2
    # ann and bob entered at noon: both due at the timeout, an hour later.
    assert wait.due_first == wait.due_last == NOW + timedelta(hours=1)
    assert wait.ways == {"yes": 1}
    assert counts["opted_in"].entered == 0

    later(clock, hours=1, minutes=1)
    run()
    counts = counts_of(journey)
    assert counts["wait_order"].entered == 3
    assert counts["wait_order"].waiting == 0
    assert counts["wait_order"].ways == {"yes": 1, "timed out": 2}
    assert counts["opted_in"].entered == 2
    assert counts["opted_in"].ways == {"yes": 1, "no": 1}
    assert counts["cart"].entered == 1 and counts["cart"].sent == 1
    assert counts["done"].exited == 1
    assert counts["done"].exited_reasons == [(engine.Reason.EXIT_STEP, 1)]


def test_the_drawing_puts_branches_side_by_side_under_their_step(journey):
    found = progress.journey_progress(campaign=journey)
    assert [box.id for box in found.steps] == ["wait_order"]
    labels = [(way.label, [b.id for b in way.steps]) for way in found.steps[0].branches]
    assert labels == [("yes", []), ("timed out", ["opted_in"])]
    split = found.steps[0].branches[1].steps[0]
    assert [(w.label, [b.id for b in w.steps]) for w in split.branches] == [
        ("yes", ["cart"]),
        ("no", ["done"]),
    ]
    assert found.trigger == "When a person does “Product added to cart”"
    assert found.goal == "“Order completed” within 3 days"


def test_not_sent_and_exit_rules_are_counted_at_their_step_with_reasons(db, clock, ingest):
    definition = {**DEFINITION, "exit_on": [{"role": "order_completed"}]}
    definition["steps"] = [
        {"id": "wait", "type": "wait", "seconds": 3600, "next": "cart"},
        {**DEFINITION["steps"][2], "id": "cart"},
    ]
    definition["start"] = "wait"
    campaign = journey_make(definition)
    send(
        ingest,
        identify("ann"),
        identify("bob", consent=False),
        identify("cat"),
    )
    send(
        ingest,
        added("ann", "A", cart_id="c1"),
        added("bob", "B", cart_id="c2"),
        added("cat", "C", cart_id="c3"),
    )
    later(clock, minutes=10)
    # cat orders: the exit rule takes her out while she waits, with no step run there.
    send(ingest, ordered("cat", "o-1", {"sku": "C", "price": 5}, cart_id="c3"))
    later(clock, hours=2)
    run()
    counts = counts_of(campaign)
    assert counts["wait"].entered == 3
    assert counts["wait"].exited == 1
    assert counts["wait"].exited_reasons == [("converted: order completed", 1)]
    assert counts["cart"].entered == 2
    assert counts["cart"].sent == 1
    assert counts["cart"].not_sent == 1
    assert counts["cart"].not_sent_reasons == [(engine.Reason.NO_CONSENT, 1)]


def test_counts_are_per_version_and_the_versions_list_their_people(journey, clock, ingest):
    second = publish_again(journey)
    send(ingest, added("ann", "A2", cart_id="c-ann-2"))
    run()
    versions = progress.journey_versions(campaign=journey)
    assert [(v.number, v.enrolled, v.waiting, v.live) for v in versions] == [
        (2, 1, 1, True),
        (1, 3, 2, False),
    ]
    live = counts_of(journey)
    assert live["wait_order"].entered == 1 and live["wait_order"].waiting == 1
    assert counts_of(journey, version_number=1)["wait_order"].entered == 3
    found = progress.journey_progress(campaign=journey, version_number=1)
    assert found.version is not None and found.version.number == 1
    assert (found.enrolled, found.waiting) == (3, 2)
    assert progress.journey_progress(campaign=journey).version == second


def test_a_builtin_is_drawn_as_its_trigger_wait_and_send(db, clock, ingest):
    campaigns_setup()
    cart = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)
    cart.status = Campaign.Status.ACTIVE
    cart.save()
    send(ingest, identify("ann"))
    send(ingest, added("ann", "A", cart_id="c1"))
    found = progress.journey_progress(campaign=cart)
    assert [box.kind for box in found.steps] == ["wait", "send"]
    assert found.steps[0].counts.waiting == 1
    assert found.version is None and found.versions == [] and found.enrolled == 1


def test_the_goal_compares_those_messaged_with_the_control_group(db, clock, ingest):
    campaign = journey_make(control_percent=50)
    people = [f"p{n}" for n in range(8)]
    send(ingest, *[identify(p) for p in people])
    send(ingest, *[added(p, "A", cart_id=f"c-{p}", price=20) for p in people])
    later(clock, hours=1, minutes=1)
    run()
    enrollments = list(Enrollment.objects.filter(campaign=campaign).select_related("profile"))
    control = [e for e in enrollments if engine.in_control_group(e, 50)]
    messaged = [e for e in enrollments if not engine.in_control_group(e, 50)]
    assert control and messaged
    assert {e.state for e in control} == {State.CONTROL}
    Message.objects.filter(enrollment__in=messaged).update(
        status=Message.Status.SENT, sent_at=timezone.now()
    )
    buyer = messaged[0].profile.user_id
    later(clock, hours=5)
    send(ingest, ordered(buyer, "o-9", {"sku": "A", "price": 20}, total=20))
    outcomes = stats.journey_goal_outcomes(campaign=campaign, version=campaign.version)
    assert outcomes is not None and outcomes.orders
    assert outcomes.messaged.size == len(messaged) and outcomes.messaged.converted == 1
    assert outcomes.control.size == len(control) and outcomes.control.converted == 0
    assert outcomes.messaged.revenue == 20
    assert not outcomes.enough_data
    # At the send step: its messages followed by the goal.
    assert counts_of(campaign)["cart"].converted == 1
    assert counts_of(campaign)["opted_in"].converted is None


def test_the_enrollment_list_sorts_filters_and_pages(journey, clock, ingest):
    later(clock, hours=1, minutes=1)
    run()
    page = progress.enrollment_page(campaign=journey, limit=2)
    assert len(page.rows) == 2 and page.next_cursor
    rest = progress.enrollment_page(campaign=journey, limit=2, after=page.next_cursor)
    everyone = [r.enrollment.pk for r in page.rows + rest.rows]
    assert everyone == sorted(everyone, reverse=True) and len(set(everyone)) == 3
    assert rest.next_cursor == ""
    assert page.rows[0].ordered_at == page.rows[0].enrollment.created_at

    by_update = progress.enrollment_page(campaign=journey, sort="updated")
    times = [r.enrollment.updated_at for r in by_update.rows]
    assert times == sorted(times, reverse=True)
    assert [r.ordered_at for r in by_update.rows] == times

    sent = progress.enrollment_page(campaign=journey, node="cart")
    assert [r.enrollment.profile.user_id for r in sent.rows] == ["ann"]
    assert sent.rows[0].messages and sent.rows[0].step.startswith("Send email")
    exited = progress.enrollment_page(campaign=journey, state=State.EXITED)
    assert [r.enrollment.profile.user_id for r in exited.rows] == ["bob"]
    by_email = progress.enrollment_page(campaign=journey, person="CAT@example")
    assert [r.enrollment.profile.user_id for r in by_email.rows] == ["cat"]
    by_user = progress.enrollment_page(campaign=journey, person="bob")
    assert [r.enrollment.profile.user_id for r in by_user.rows] == ["bob"]
    assert progress.enrollment_page(campaign=journey, version=2).rows == []


def test_the_due_sort_pages_soonest_first(db, clock, ingest):
    campaign = journey_make()
    people = [f"q{n}" for n in range(5)]
    send(ingest, *[identify(p) for p in people])
    for minutes, person in enumerate(people):
        later(clock, minutes=minutes)
        send(ingest, added(person, "A", cart_id=f"c-{person}"))
        run()
    seen, after = [], ""
    while True:
        page = progress.enrollment_page(campaign=campaign, sort="due", limit=2, after=after)
        seen += [r.ordered_at for r in page.rows]
        after = page.next_cursor
        if not after:
            break
    assert len(seen) == 5 and seen == sorted(seen)


def test_a_person_sees_where_they_are_and_what_comes_next(journey, clock):
    ann = Profile.objects.get(user_id="ann")
    [found] = progress.profile_journeys(profile=ann)
    assert found.campaign == journey and found.version == 1
    assert found.next is not None
    assert found.next.doing == "Waiting for “Order completed”"
    assert found.next.until == NOW + timedelta(hours=1)
    assert found.next.then == (
        "if it comes: the end of the journey; if not: condition split “opted_in”"
    )
    later(clock, hours=1, minutes=1)
    run()
    [found] = progress.profile_journeys(profile=ann)
    assert found.next is None
    assert [(p.run.node, p.run.outcome) for p in found.path] == [
        ("wait_order", StepRun.Outcome.TIMED_OUT),
        ("opted_in", StepRun.Outcome.YES),
        ("cart", StepRun.Outcome.SENT),
    ]
    assert len(found.path[2].messages) == 1


# --- the pages ----------------------------------------------------------------------------------


@pytest.fixture
def signed_in(django_user_model) -> Client:
    browser = Client()
    browser.force_login(django_user_model.objects.create_user("m", "m@example.com", "pw"))
    return browser


def test_the_campaign_page_draws_the_journey_with_its_counts(signed_in, journey, clock):
    later(clock, hours=1, minutes=1)
    run()
    html = signed_in.get(f"/campaigns/{journey.pk}/").content.decode()
    assert 'id="step-wait_order"' in html and 'id="step-done"' in html
    assert "When a person does “Product added to cart”" in html
    assert "went this way" in html
    assert engine.Reason.EXIT_STEP in html
    assert 'id="goal-messaged"' in html


def test_the_campaign_page_has_a_version_picker_when_there_are_several(signed_in, journey):
    publish_again(journey)
    html = signed_in.get(f"/campaigns/{journey.pk}/").content.decode()
    assert 'name="version"' in html and "version 2" in html
    html = signed_in.get(f"/campaigns/{journey.pk}/?version=1").content.decode()
    assert "version 1" in html
    # An unknown version shows the live one.
    assert "version 2" in signed_in.get(f"/campaigns/{journey.pk}/?version=9").content.decode()


def test_the_enrollment_list_page_filters_and_its_fragment(signed_in, journey):
    url = f"/campaigns/{journey.pk}/enrollments/"
    html = signed_in.get(url, {"person": "ann"}).content.decode()
    assert "ann@example.com" in html and "bob@example.com" not in html
    assert 'aria-sort="descending">Entered' in html
    fragment = signed_in.get(
        url,
        {"state": "pending", "sort": "due"},
        headers={"HX-Request": "true", "HX-Target": "enrollment-rows"},
    ).content.decode()
    assert fragment.startswith('\n<div id="enrollment-rows"') or 'id="enrollment-rows"' in fragment
    assert (
        "<h1>" not in fragment
        and "bob@example.com" in fragment
        and "cat@example.com" not in fragment
    )
    assert signed_in.get(url, {"sort": "nonsense", "after": "x", "state": "??"}).status_code == 200


def test_the_profile_page_shows_the_persons_journeys(signed_in, journey):
    ann = Profile.objects.get(user_id="ann")
    html = signed_in.get(f"/profiles/{ann.pk}/").content.decode()
    assert 'id="journeys"' in html and "Shoes in the cart" in html
    assert "Waiting for “Order completed” until" in html
    nobody = Profile.objects.create(user_id="zed")
    assert 'id="journeys"' not in signed_in.get(f"/profiles/{nobody.pk}/").content.decode()


def test_the_recent_enrollments_show_when_they_entered_the_order_they_are_in(
    signed_in, db, clock, ingest
):
    """The log is ordered by creation: it shows the creation time, not the trigger's."""
    campaign = journey_make()
    send(ingest, identify("ann"))
    event = added("ann", "A", cart_id="c1")
    event["timestamp"] = (NOW - timedelta(hours=3)).isoformat()
    send(ingest, event)
    enrollment = Enrollment.objects.get(campaign=campaign)
    assert enrollment.trigger_at == NOW - timedelta(hours=3)
    html = signed_in.get(f"/campaigns/{campaign.pk}/").content.decode()
    table = html[html.index('id="enrollments-title"') :]
    assert f'datetime="{enrollment.created_at.isoformat()}"' in table
    assert f'datetime="{enrollment.trigger_at.isoformat()}"' not in table


def test_a_journey_without_a_version_says_so_and_a_builtin_is_drawn(signed_in, db):
    draft = Campaign.objects.create(name="Draft journey", kind=Campaign.Kind.JOURNEY)
    html = signed_in.get(f"/campaigns/{draft.pk}/").content.decode()
    assert "no published version" in html
    campaigns_setup()
    cart = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)
    html = signed_in.get(f"/campaigns/{cart.pk}/").content.decode()
    assert 'id="step-wait"' in html and 'id="step-send"' in html
    assert 'id="stat-lift"' in html  # the built-ins keep their lift
