"""Journeys end to end through the ingest API, with controlled time: every step type, its
branches, exit rules, versions and the rules that refuse a journey that cannot run."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core import mail
from django.db import IntegrityError, transaction

from campaigns import engine
from campaigns.journeys.services import (
    JourneyNotReady,
    journey_create,
    journey_draft_save,
    journey_move_to_latest,
    journey_problems,
    journey_publish,
    template_definition,
)
from campaigns.models import Campaign, Enrollment, Message, StepRun
from campaigns.services import CampaignNotReady, campaign_status_set
from cdp_project.access.actors import Actor
from cdp_project.access.models import AuditEntry
from profiles.models import Profile
from segments.models import Segment
from tests.campaigns.conftest import added, identify, later, ordered, run, send, track

pytestmark = pytest.mark.django_db

State = Enrollment.State
Outcome = StepRun.Outcome
ACTOR = Actor.system("test")
HOUR = 3600

ROLE_ADDED = {"role": "product_added"}
ROLE_ORDERED = {"role": "order_completed"}
CONSENTED = {
    "kind": "group",
    "match": "all",
    "conditions": [{"kind": "consent", "negate": False, "channel": "email", "state": "granted"}],
}


def email(step_id: str, subject: str, *, nxt: str = "", items: str = "", **extra) -> dict:
    return {
        "id": step_id,
        "type": "send",
        "channel": "email",
        "subject": subject,
        "html": "<p>Hi {{ profile.first_name }}</p>"
        "{% for item in items %}<p>{{ item.name }}</p>{% endfor %}"
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a>',
        "text": "Hi {{ profile.first_name }}\n{% for item in items %}{{ item.name }}\n{% endfor %}",
        "items": items,
        "next": nxt,
        **extra,
    }


def definition(trigger: dict, *steps: dict, **rest: Any) -> dict:
    return {"trigger": trigger, "start": steps[0]["id"], "steps": list(steps), **rest}


def on(activity: dict, *where: dict, **extra: Any) -> dict:
    return {"kind": "activity", "activity": activity, "where": list(where), **extra}


def published(tree: dict, **settings: Any) -> Campaign:
    """A journey with `tree` as its live version, active."""
    journey = journey_create(actor=ACTOR, name="Journey", template="blank")
    assert journey_draft_save(actor=ACTOR, campaign=journey, definition=tree) == []
    journey_publish(actor=ACTOR, campaign=journey)
    Campaign.objects.filter(pk=journey.pk).update(**settings)
    campaign_status_set(actor=ACTOR, campaign=journey, status=Campaign.Status.ACTIVE)
    return Campaign.objects.get(pk=journey.pk)


def of(user: str) -> Enrollment:
    return Enrollment.objects.get(profile__user_id=user)


def path(user: str) -> list[tuple[str, str]]:
    return list(
        StepRun.objects.filter(enrollment=of(user)).order_by("id").values_list("node", "outcome")
    )


def shoes(user: str, cart: str, **properties: Any) -> dict:
    return added(user, "SH-1", name="Trail shoe", category="Shoes", price=80, cart_id=cart)


# --- the cart journey a marketer builds ----------------------------------------------------

CART_JOURNEY = definition(
    on(ROLE_ADDED, {"path": "category", "operator": "equals", "value": "Shoes"}),
    {
        "id": "wait_order",
        "type": "wait_for",
        "activity": ROLE_ORDERED,
        "where": [],
        "match_keys": ["cart_id"],
        "timeout_seconds": HOUR,
        "yes": "",
        "timed_out": "opted_in",
    },
    {"id": "opted_in", "type": "split", "condition": CONSENTED, "yes": "cart", "no": "done"},
    email("cart", "Your shoes are waiting", items="cart"),
    {"id": "done", "type": "exit"},
)


def test_the_cart_journey_waits_for_the_same_cart_then_branches_on_consent(ingest, clock):
    # The catalog learns the properties' types from a first event.
    send(ingest, identify("zed"), shoes("zed", "c0"))
    published(CART_JOURNEY)
    send(
        ingest,
        identify("ann"),
        shoes("ann", "c1"),  # no order: gets the email
        identify("bob"),
        shoes("bob", "c2"),  # orders this cart: no email
        identify("cat"),
        shoes("cat", "c3"),  # orders another cart: her wait goes on
        identify("eve", consent=False),
        shoes("eve", "c5"),  # no consent: exits
        identify("dan"),
        added("dan", "HAT", category="Hats", price=10, cart_id="c6"),  # not shoes
        identify("fay"),
        shoes("fay", "c7"),
    )
    assert not Enrollment.objects.filter(profile__user_id="dan").exists()
    later(clock, minutes=10)
    send(
        ingest,
        ordered("bob", "o-1", cart_id="c2"),
        ordered("cat", "o-2", cart_id="c4"),
        ordered("fay", "o-3"),  # names no cart: may be hers
    )
    # Bob's order wakes his wait at once: he takes the "yes" branch (empty: he is done).
    assert of("bob").due_at <= datetime(2026, 11, 20, 12, 10, tzinfo=UTC)
    run()
    assert path("bob") == path("fay") == [("wait_order", Outcome.MATCHED)]
    assert of("bob").state == State.COMPLETED
    assert of("cat").state == State.PENDING and of("cat").node == "wait_order"

    later(clock, minutes=61)
    run()

    [message] = mail.outbox
    assert (message.to, message.subject) == (["ann@example.com"], "Your shoes are waiting")
    assert "Trail shoe" in message.body
    assert path("ann") == [
        ("wait_order", Outcome.TIMED_OUT),
        ("opted_in", Outcome.YES),
        ("cart", Outcome.SENT),
    ]
    assert of("ann").state == State.SENT
    assert Message.objects.get(profile__user_id="ann").node == "cart"
    # Cat's wait timed out (her order was another cart), and her order emptied the cart
    # the email would have shown: not sent, with the reason.
    assert path("cat")[0] == ("wait_order", Outcome.TIMED_OUT)
    assert (of("cat").state, of("cat").reason) == (State.SUPPRESSED, engine.Reason.CART_EMPTY)
    assert path("eve") == [
        ("wait_order", Outcome.TIMED_OUT),
        ("opted_in", Outcome.NO),
        ("done", Outcome.EXITED),
    ]
    assert (of("eve").state, of("eve").reason) == (State.EXITED, "reached an exit step")


def test_a_wait_for_matches_an_array_item_filter(ingest, clock):
    send(ingest, identify("zed"), ordered("zed", "o-0", {"sku": "A", "category": "Shoes"}))
    tree = definition(
        on(ROLE_ADDED),
        {
            "id": "wait_shoes",
            "type": "wait_for",
            "activity": ROLE_ORDERED,
            "where": [{"path": "products[].category", "operator": "equals", "value": "Shoes"}],
            "timeout_seconds": HOUR,
            "yes": "thanks",
            "timed_out": "",
        },
        email("thanks", "Enjoy your shoes"),
    )
    published(tree)
    send(ingest, identify("ann"), added("ann", "A"), identify("bob"), added("bob", "B"))
    later(clock, minutes=5)
    send(
        ingest,
        ordered("ann", "o-1", {"sku": "A", "category": "Shoes"}),
        ordered("bob", "o-2", {"sku": "B", "category": "Hats"}),
    )
    run()
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]
    later(clock, minutes=61)
    run()
    assert path("bob") == [("wait_shoes", Outcome.TIMED_OUT)]
    assert len(mail.outbox) == 1


# --- waits -----------------------------------------------------------------------------------


def test_a_wait_until_a_time_of_day_on_weekdays_reads_the_persons_zone(ingest, clock):
    tree = definition(
        on({"kind": "track", "name": "Signed Up"}),
        {
            "id": "morning",
            "type": "wait",
            "seconds": 0,
            "until": "09:00",
            "weekdays": [0, 1, 2, 3, 4],
            "next": "hello",
        },
        email("hello", "Good morning"),
    )
    published(tree)
    # Friday 20 November 2026, 12:00 UTC: 13:00 in Vienna. Next weekday 09:00 there is
    # Monday 08:00 UTC.
    send(ingest, identify("ann", timezone="Europe/Vienna"), track("ann", "Signed Up"))
    run()
    assert of("ann").due_at == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert mail.outbox == []
    later(clock, days=2, hours=20, minutes=1)  # Monday 08:01 UTC
    run()
    assert [m.subject for m in mail.outbox] == ["Good morning"]


def test_a_duration_counts_from_the_trigger_event(ingest, clock):
    tree = definition(
        on({"kind": "track", "name": "Signed Up"}),
        {"id": "day", "type": "wait", "seconds": 86400, "next": "hello"},
        email("hello", "A day later"),
    )
    published(tree)
    send(ingest, identify("ann"), track("ann", "Signed Up"))
    assert of("ann").due_at == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    later(clock, hours=23)
    run()
    assert mail.outbox == []
    later(clock, hours=24, seconds=1)
    run()
    assert len(mail.outbox) == 1


# --- splits, updates, exits ------------------------------------------------------------------


def test_a_random_split_sends_each_person_down_one_branch_always_the_same(ingest, clock):
    tree = definition(
        on({"kind": "track", "name": "Signed Up"}),
        {
            "id": "ab",
            "type": "random",
            "branches": [
                {"percent": 50, "next": "a", "label": "A"},
                {"percent": 50, "next": "b", "label": "B"},
            ],
        },
        {"id": "a", "type": "update", "traits": {"variant": "A"}, "note": ""},
        {"id": "b", "type": "update", "traits": {"variant": "B"}, "note": ""},
    )
    journey = published(tree)
    people = [f"p{n}" for n in range(40)]
    send(ingest, *[m for p in people for m in (identify(p), track(p, "Signed Up"))])
    run()
    variants = {p.user_id: p.traits["variant"] for p in Profile.objects.filter(user_id__in=people)}
    assert set(variants.values()) == {"A", "B"}
    for enrollment in Enrollment.objects.filter(campaign=journey).select_related("profile"):
        branch = engine.random_branch(enrollment.pk, journey_step(journey, "ab"))
        assert variants[enrollment.profile.user_id] == branch.label
        assert enrollment.state == State.COMPLETED
    counts = StepRun.objects.filter(campaign=journey, node="ab").values_list("detail", flat=True)
    assert sorted(set(counts)) == ["A", "B"]


def journey_step(journey: Campaign, step_id: str) -> Any:
    return engine.journey_of(journey).step(step_id)


def test_an_update_step_sets_traits_and_leaves_a_note_in_the_audit_log(ingest, clock):
    tree = definition(
        on({"kind": "track", "name": "Signed Up"}),
        {"id": "tag", "type": "update", "traits": {"stage": "new"}, "note": "Joined the club"},
    )
    published(tree)
    send(ingest, identify("ann"), track("ann", "Signed Up"))
    run()
    ann = Profile.objects.get(user_id="ann")
    assert ann.traits["stage"] == "new"
    assert ann.notes.get().body == "Joined the club"
    entry = AuditEntry.objects.get(action="journey.profile_update")
    assert entry.system_actor == "journey “Journey”" and str(ann.pk) == entry.object_id


def test_a_condition_split_on_an_activity_since_entry(ingest, clock):
    tree = definition(
        on({"kind": "track", "name": "Signed Up"}),
        {"id": "day", "type": "wait", "seconds": 86400, "next": "bought"},
        {
            "id": "bought",
            "type": "split",
            "did": {"activity": ROLE_ORDERED, "where": []},
            "yes": "",
            "no": "nudge",
        },
        email("nudge", "Still looking?"),
    )
    published(tree)
    send(ingest, identify("ann"), ordered("ann", "o-0"))  # before entry: does not count
    later(clock, minutes=1)
    send(ingest, track("ann", "Signed Up"), identify("bob"), track("bob", "Signed Up"))
    later(clock, hours=2)
    send(ingest, ordered("bob", "o-1"))
    later(clock, hours=25)
    run()
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]
    assert path("bob")[-1] == ("bought", Outcome.YES)


def test_exit_rules_take_people_out_wherever_they_wait(ingest, clock):
    tree = definition(
        on({"kind": "track", "name": "Signed Up"}),
        {"id": "day", "type": "wait", "seconds": 86400, "next": "hello"},
        email("hello", "Hello"),
        exit_on=[ROLE_ORDERED],
    )
    published(tree)
    send(ingest, identify("ann"), track("ann", "Signed Up"))
    later(clock, hours=3)
    send(ingest, ordered("ann", "o-1"))
    assert (of("ann").state, of("ann").reason) == (State.EXITED, "converted: order completed")
    later(clock, days=2)
    run()
    assert mail.outbox == []


def test_a_send_a_rule_stops_is_recorded_and_the_person_goes_on(ingest, clock):
    tree = definition(
        on({"kind": "track", "name": "Signed Up"}),
        email("hello", "Hello", nxt="tag"),
        {"id": "tag", "type": "update", "traits": {"welcomed": "tried"}, "note": ""},
    )
    published(tree)
    send(ingest, identify("ann", consent=False), track("ann", "Signed Up"))
    run()
    assert mail.outbox == []
    assert path("ann") == [("hello", Outcome.SUPPRESSED), ("tag", Outcome.UPDATED)]
    assert StepRun.objects.get(node="hello").detail == "no consent"
    assert of("ann").state == State.COMPLETED


def test_two_sends_each_go_once_however_often_the_runner_runs(ingest, clock):
    tree = definition(
        on({"kind": "track", "name": "Signed Up"}),
        email("first", "First", nxt="wait"),
        {"id": "wait", "type": "wait", "seconds": HOUR, "next": "second"},
        email("second", "Second"),
    )
    published(tree)
    send(ingest, identify("ann"), track("ann", "Signed Up"))
    run()
    run()
    later(clock, minutes=61)
    run()
    run()
    assert [m.subject for m in mail.outbox] == ["First", "Second"]
    enrollment = of("ann")
    assert enrollment.state == State.SENT
    # The database holds "once": a second message or step run for the same step is refused.
    first = Message.objects.get(enrollment=enrollment, node="first")
    duplicate = copy.copy(first)
    duplicate.pk, duplicate.idempotency_key = None, "another-key"
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        StepRun.objects.create(
            campaign=enrollment.campaign, enrollment=enrollment, node="first", outcome="sent"
        )


def test_the_cross_journey_cap_counts_every_journeys_marketing_sends(ingest, clock, settings):
    settings.CAMPAIGNS_MARKETING_CAP_PER_DAY = 1
    tree = definition(
        on({"kind": "track", "name": "Signed Up"}),
        email("first", "First", nxt="second"),
        email("second", "Second"),
    )
    published(tree)
    send(ingest, identify("ann"), track("ann", "Signed Up"))
    run()
    assert [m.subject for m in mail.outbox] == ["First"]
    assert StepRun.objects.get(node="second").detail == engine.Reason.CAPPED_MARKETING


def test_a_transactional_send_needs_no_consent_and_says_so(ingest, clock):
    tree = definition(
        on(ROLE_ORDERED, entry_key="order_id"),
        email("receipt", "Your receipt", transactional=True),
    )
    published(tree)
    send(ingest, identify("ann", consent=False), ordered("ann", "o-1"), ordered("ann", "o-1"))
    run()
    [message] = Message.objects.all()
    assert message.transactional and "List-Unsubscribe" not in message.headers
    assert Enrollment.objects.count() == 1  # one entry per order id


# --- entry rules ---------------------------------------------------------------------------


def test_the_audience_is_checked_at_entry(ingest, clock):
    vips = Segment.objects.create(
        name="VIPs",
        definition={
            "kind": "group",
            "match": "all",
            "negate": False,
            "conditions": [
                {
                    "kind": "attribute",
                    "negate": False,
                    "scope": "trait",
                    "path": "vip",
                    "operator": "is_set",
                }
            ],
        },
    )
    tree = definition(on({"kind": "track", "name": "Signed Up"}), email("hello", "Hello"))
    published(tree, audience=vips)
    send(
        ingest,
        identify("ann", vip="yes"),
        track("ann", "Signed Up"),
        identify("bob"),
        track("bob", "Signed Up"),
    )
    assert list(Enrollment.objects.values_list("profile__user_id", flat=True)) == ["ann"]


def test_once_per_days_lets_a_person_in_again_after_the_period(ingest, clock):
    tree = definition(on({"kind": "track", "name": "Signed Up"}), email("hello", "Hello"))
    published(tree, reentry=Campaign.Reentry.PER_DAYS, reentry_days=7)
    send(ingest, identify("ann"), track("ann", "Signed Up"))
    run()
    later(clock, days=3)
    send(ingest, track("ann", "Signed Up"))
    assert Enrollment.objects.count() == 1
    later(clock, days=8)
    send(ingest, track("ann", "Signed Up"))
    assert Enrollment.objects.count() == 2


# --- versions ------------------------------------------------------------------------------


def test_people_in_flight_stay_on_their_version_until_moved(ingest, clock):
    tree = definition(
        on({"kind": "track", "name": "Signed Up"}),
        {"id": "wait", "type": "wait", "seconds": HOUR, "next": "hello"},
        email("hello", "Version one"),
    )
    journey = published(tree)
    send(ingest, identify("ann"), track("ann", "Signed Up"))
    second = copy.deepcopy(tree)
    second["steps"][1]["subject"] = "Version two"
    journey_draft_save(actor=ACTOR, campaign=journey, definition=second)
    v2 = journey_publish(actor=ACTOR, campaign=journey)
    assert v2.number == 2
    send(ingest, identify("bob"), track("bob", "Signed Up"))
    later(clock, minutes=61)
    run()
    assert sorted((m.to[0], m.subject) for m in mail.outbox) == [
        ("ann@example.com", "Version one"),
        ("bob@example.com", "Version two"),
    ]

    # Moving: Cat waits on version 2's first step after a third version is published.
    send(ingest, identify("cat"), track("cat", "Signed Up"))
    third = copy.deepcopy(second)
    third["steps"][1]["subject"] = "Version three"
    journey_draft_save(actor=ACTOR, campaign=journey, definition=third)
    journey_publish(actor=ACTOR, campaign=journey)
    journey.refresh_from_db()
    assert journey_move_to_latest(actor=ACTOR, campaign=journey) == 1
    assert of("cat").version.number == 3
    later(clock, minutes=125)
    run()
    assert mail.outbox[-1].subject == "Version three"


def test_a_journey_that_cannot_run_is_refused_with_every_problem(db):
    deleted = Segment.objects.create(name="Gone", definition={"kind": "group", "match": "all"})
    gone = deleted.pk
    deleted.delete()
    tree = definition(
        {"kind": "broadcast", "segment": gone, "repeat": "none"},
        {"id": "w", "type": "wait_for", "activity": ROLE_ORDERED, "yes": "s", "timed_out": ""},
        {"id": "s", "type": "split", "yes": "r", "no": ""},
        {
            "id": "r",
            "type": "random",
            "branches": [{"percent": 30, "next": "e"}, {"percent": 30, "next": "x"}],
        },
        email("e", "", nxt="w"),
        {"id": "x", "type": "exit"},
    )
    problems = journey_problems(tree)
    for expected in (
        "a wait for an activity needs a timeout",
        "a condition split needs a condition",
        "the shares must add up to 100 %",
        "the email needs a subject",
        "reached twice",
    ):
        assert any(expected in p for p in problems), (expected, problems)
    tree["steps"][3]["next"] = ""
    tree["steps"][3]["subject"] = "Hello {{ oops"
    tree["steps"][0]["timeout_seconds"] = HOUR
    tree["steps"][1]["condition"] = CONSENTED
    tree["steps"][2]["branches"][1]["percent"] = 70
    problems = journey_problems(tree)
    assert any(f"Segment #{gone} does not exist" in p for p in problems), problems
    assert any("the subject does not compile" in p for p in problems)

    journey = journey_create(actor=ACTOR, name="Broken", template="blank")
    journey_draft_save(actor=ACTOR, campaign=journey, definition=tree)
    with pytest.raises(JourneyNotReady):
        journey_publish(actor=ACTOR, campaign=journey)
    with pytest.raises(CampaignNotReady, match="Publish the journey first"):
        campaign_status_set(actor=ACTOR, campaign=journey, status=Campaign.Status.ACTIVE)


def test_every_template_publishes_once_its_segment_is_chosen(db):
    lapsed = Segment.objects.create(name="Lapsed", definition={"kind": "group", "match": "all"})
    for name in ("blank", "welcome", "win_back", "review", "browse_cart_order"):
        tree = template_definition(name)
        if tree["trigger"]["kind"] == "segment":
            tree["trigger"]["segment"] = lapsed.pk
        assert journey_problems(tree) == [], name


def test_a_segment_a_live_journey_runs_on_cannot_be_deleted(db):
    from segments.services import SegmentInUse, segment_delete

    lapsed = Segment.objects.create(name="Lapsed", definition={"kind": "group", "match": "all"})
    tree = template_definition("win_back")
    tree["trigger"]["segment"] = lapsed.pk
    journey = journey_create(actor=ACTOR, name="Win back", template="blank")
    journey_draft_save(actor=ACTOR, campaign=journey, definition=tree)
    journey_publish(actor=ACTOR, campaign=journey)
    with pytest.raises(SegmentInUse) as refused:
        segment_delete(actor=ACTOR, segment=lapsed)
    assert "Win back" in str(refused.value.others)
    assert Segment.objects.filter(pk=lapsed.pk).exists()


def test_a_filter_on_a_property_the_catalog_does_not_know_is_refused(db):
    tree = definition(
        on(ROLE_ADDED, {"path": "colour", "operator": "equals", "value": "red"}),
        email("hello", "Hello"),
    )
    assert journey_problems(tree) == [
        "Trigger: filter 1: the activity has no property 'colour' in the catalog."
    ]


def test_a_subject_reads_in_a_sentence_without_its_template_parts():
    from campaigns.journeys.words import subject_words

    subject = "You left {{ cart.count }} item{{ 's' if cart.count != 1 }} in your cart"
    assert subject_words(subject) == "You left … item… in your cart"
    assert subject_words("{% if x %}{% endif %}") == "……"
    assert subject_words("") == "(no subject)"


def test_a_template_that_compiles_but_cannot_render_is_refused_at_publish(db):
    tree = definition(
        on({"kind": "track", "name": "Signed Up"}),
        email("cart", "Your cart", html="{% for item in cart.items %}{{ item }}{% endfor %}"),
    )
    [problem] = journey_problems(tree)
    assert problem.startswith("Step “cart”: the HTML body fails for a sample person:")
    tree["steps"][0]["html"] = "{% for item in cart.lines %}{{ item.name }}{% endfor %}"
    assert journey_problems(tree) == []


def test_a_trigger_reads_with_its_filters_values():
    from campaigns.journeys.definition import journey_parse
    from campaigns.journeys.words import trigger_words

    tree = definition(
        on(
            ROLE_ADDED,
            {"path": "category", "operator": "one_of", "value": ["Running shoes", "Boots"]},
            {"path": "products[].price", "operator": "gt", "value": 50},
        ),
        email("hello", "Hello"),
    )
    assert trigger_words(journey_parse(tree).trigger, {}) == (
        "When a person does “Product added to cart” where category is one of Running shoes, "
        "Boots, with an item of products whose price > 50"
    )
