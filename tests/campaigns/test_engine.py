"""The three campaigns end to end through the ingest API, with controlled time: who gets a
message, when, with what, and why the others did not."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.core import mail

from campaigns import channels, engine
from campaigns.models import Campaign, Enrollment, Message
from campaigns.services import campaign_update
from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.models import Activity, CommerceRole, Source
from profiles.models import Profile
from tests.campaigns.conftest import (
    NOW,
    added,
    identify,
    later,
    ordered,
    removed,
    run,
    send,
    track,
    viewed,
)

pytestmark = pytest.mark.django_db

State = Enrollment.State


def enrollment(kind: str) -> Enrollment:
    return Enrollment.objects.get(campaign__kind=kind)


# --- abandoned browse ------------------------------------------------------------------------


def test_abandoned_browse_sends_viewed_products_after_the_wait(ingest, clock, campaigns):
    send(
        ingest,
        identify("ann"),
        viewed("ann", "A", name="Alpine boot", price=120, image_url="https://img/a.jpg"),
        viewed("ann", "B", name="Beach hat", price="19.99"),
    )
    later(clock, minutes=5)
    send(ingest, viewed("ann", "A"))  # only the SKU: the catalog gives the rest

    later(clock, minutes=59)
    run()
    assert mail.outbox == []  # the wait (one hour from the first view) is not over

    later(clock, minutes=61)
    result = run()

    assert result.sent == 1
    [email] = mail.outbox
    assert email.to == ["ann@example.com"]
    assert email.subject == "Still thinking about Alpine boot?"
    html = email.alternatives[0][0]
    # Most recent first, once per SKU, with the catalog's name, price and image.
    assert html.index("Alpine boot") < html.index("Beach hat")
    assert html.count("Alpine boot") == 1
    assert "https://img/a.jpg" in html and "19.99 USD" in html
    assert "Hi Ann" in email.body
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email.extra_headers["List-Unsubscribe"].startswith("<http://localhost:8000/")
    message = Message.objects.get()
    assert message.status == Message.Status.SENT
    assert email.extra_headers["Message-ID"].startswith(f"<{message.idempotency_key}@")
    assert enrollment("abandoned_browse").state == State.SENT
    # One enrollment for the three views: the re-entry rule waits for the pending one.
    assert Enrollment.objects.count() == 1


def test_adding_to_cart_exits_browse_and_a_waiting_cart_stands_browse_down(
    ingest, clock, campaigns
):
    send(ingest, identify("ann"), viewed("ann", "A"), added("ann", "A", price=10))
    browse = enrollment("abandoned_browse")
    assert browse.state == State.EXITED
    assert browse.reason == "converted: product added to cart"

    # Bea added to cart first, then browsed: her browse stands down for the cart reminder,
    # while it waits and once it was sent.
    send(ingest, identify("bea"), added("bea", "C", price=5))
    later(clock, minutes=10)
    send(ingest, viewed("bea", "D"))
    later(clock, minutes=61)
    run()
    later(clock, minutes=75)
    run()

    assert sorted(m.subject for m in mail.outbox) == ["You left 1 item in your cart"] * 2
    bea_browse = Enrollment.objects.get(campaign__kind="abandoned_browse", profile__user_id="bea")
    assert bea_browse.state == State.EXITED
    assert bea_browse.reason == "stood down: a cart reminder is waiting or was sent"


# --- abandoned cart ------------------------------------------------------------------------


def test_abandoned_cart_shows_the_cart_at_send_time_minus_removals(ingest, clock, campaigns):
    send(
        ingest,
        identify("ann"),
        added("ann", "A", name="Alpine boot", price=120, quantity=2),
        added("ann", "B", name="Beach hat", price=20),
    )
    later(clock, minutes=30)
    send(ingest, removed("ann", "B"))
    later(clock, minutes=61)
    run()

    [email] = mail.outbox
    assert email.subject == "You left 2 items in your cart"
    assert "Alpine boot x 2" in email.body
    assert "Beach hat" not in email.body
    assert "Total: 240.00 USD" in email.body


def test_the_cart_is_keyed_by_cart_id_when_the_site_sends_one(ingest, clock, campaigns):
    send(
        ingest,
        identify("ann"),
        added("ann", "OLD", name="Old cart item", price=1, cart_id="c1"),
        added("ann", "NEW", name="New cart item", price=2, cart_id="c2"),
    )
    # The first add enrolled, on cart c1.
    later(clock, minutes=61)
    run()
    [email] = mail.outbox
    assert "Old cart item" in email.body and "New cart item" not in email.body


def test_a_cart_emptied_before_the_wait_ends_sends_nothing(ingest, clock, campaigns):
    send(ingest, identify("ann"), added("ann", "A", name="Alpine boot", price=120, cart_id="c1"))
    later(clock, minutes=10)
    send(ingest, removed("ann", "A", cart_id="c1"))
    later(clock, minutes=61)
    run()
    assert mail.outbox == []
    cart = enrollment("abandoned_cart")
    assert (cart.state, cart.reason) == (
        State.EXITED,
        "the cart is empty: everything added was removed",
    )


def test_a_removal_finds_its_line_by_product_id_or_without_a_cart_id(ingest, clock, campaigns):
    send(
        ingest,
        identify("ann"),
        added("ann", "A-1", product_id="a1", name="Alpine boot", price=120, cart_id="c1"),
        added("ann", "B-1", product_id="b1", name="Beach hat", price=20, cart_id="c1"),
        added("ann", "C-1", product_id="c1", name="Camp mug", price=8, cart_id="c1"),
    )
    later(clock, minutes=5)
    # Segment's Product Removed names the product id; some sites leave the cart out.
    send(
        ingest,
        track("ann", "Product Removed", product_id="b1", cart_id="c1"),
        removed("ann", "C-1"),
    )
    later(clock, minutes=61)
    run()
    [email] = mail.outbox
    assert email.subject == "You left 1 item in your cart"
    assert "Alpine boot" in email.body
    assert "Beach hat" not in email.body and "Camp mug" not in email.body


def test_a_purchase_exits_the_cart_and_sends_the_confirmation_at_once(ingest, clock, campaigns):
    send(ingest, identify("ann"), added("ann", "A", price=10))
    later(clock, minutes=20)
    send(ingest, ordered("ann", "o-1", {"sku": "A", "name": "Alpine boot", "price": 10}))
    run()

    [email] = mail.outbox
    assert email.subject == "Your order o-1 is confirmed"
    cart = enrollment("abandoned_cart")
    assert (cart.state, cart.reason) == (State.EXITED, "converted: order completed")
    later(clock, hours=2)
    run()
    assert len(mail.outbox) == 1


def test_the_confirmation_shows_the_parts_of_the_total_that_were_sent(ingest, clock, campaigns):
    item = {"sku": "A", "name": "Alpine boot", "price": 102.99}
    send(ingest, identify("ann"), ordered("ann", "o-9", item, total=112.99, shipping=10))
    run()
    [email] = mail.outbox
    assert "Shipping: 10.00 USD" in email.body
    assert "Total: 112.99 USD" in email.body
    assert "Tax:" not in email.body and "Subtotal:" not in email.body
    assert "<p>Shipping: 10.00 USD</p>" in email.alternatives[0][0]


def test_a_site_sending_add_to_cart_works_once_the_role_is_mapped(ingest, clock, campaigns):
    send(ingest, identify("ann"), track("ann", "add_to_cart", sku="A"))
    assert not Enrollment.objects.exists()  # not mapped yet

    Activity.objects.filter(name="add_to_cart").update(role=CommerceRole.PRODUCT_ADDED)
    send(ingest, track("ann", "add_to_cart", sku="A", name="Alpine boot", price=10))
    later(clock, minutes=61)
    run()
    [email] = mail.outbox
    assert "Alpine boot" in email.body


# --- what is not sent, and why -------------------------------------------------------------


def test_no_marketing_message_after_a_consent_opt_out(ingest, clock, campaigns):
    send(ingest, identify("ann"), added("ann", "A"))
    later(clock, minutes=30)
    send(ingest, identify("ann", consent=False))
    later(clock, minutes=61)
    run()

    assert mail.outbox == []
    cart = enrollment("abandoned_cart")
    assert (cart.state, cart.reason) == (State.SUPPRESSED, "no consent")


def test_the_campaign_cap_holds_one_message_per_day(ingest, clock, campaigns):
    send(ingest, identify("ann"), added("ann", "A"))
    later(clock, minutes=61)
    run()
    later(clock, hours=2)
    send(ingest, added("ann", "B"))
    later(clock, hours=3, minutes=1)
    run()

    assert len(mail.outbox) == 1
    second = Enrollment.objects.filter(campaign__kind="abandoned_cart").latest("id")
    assert (second.state, second.reason) == (
        State.SUPPRESSED,
        "capped: this campaign's limit per person",
    )


def test_the_cap_across_marketing_campaigns(ingest, clock, campaigns, settings):
    settings.CAMPAIGNS_MARKETING_CAP_PER_DAY = 1
    send(ingest, identify("ann"), viewed("ann", "A"))
    later(clock, minutes=61)
    run()
    send(ingest, added("ann", "A"))
    later(clock, minutes=125)
    run()

    assert len(mail.outbox) == 1
    assert enrollment("abandoned_cart").reason == (
        "capped: the daily limit across marketing campaigns"
    )


def test_order_confirmations_need_no_consent_and_ignore_caps(ingest, clock, campaigns, settings):
    settings.CAMPAIGNS_MARKETING_CAP_PER_DAY = 1
    send(ingest, identify("ann", consent=None), ordered("ann", "o-1"), ordered("ann", "o-2"))
    run()
    assert len(mail.outbox) == 2
    assert all("List-Unsubscribe" not in m.extra_headers for m in mail.outbox)
    assert all("unsubscribe" not in m.body.lower() for m in mail.outbox)


def test_the_control_group_is_not_sent(ingest, clock, campaigns):
    Campaign.objects.filter(kind="abandoned_cart").update(control_percent=100)
    send(ingest, identify("ann"), added("ann", "A"))
    later(clock, minutes=61)
    run()

    assert mail.outbox == []
    cart = enrollment("abandoned_cart")
    assert (cart.state, cart.reason) == (State.CONTROL, "control group")


def test_the_control_group_is_held_out_at_entry_and_runs_no_step(ingest, clock, campaigns):
    Campaign.objects.filter(kind="abandoned_cart").update(control_percent=100)
    send(ingest, identify("ann"), added("ann", "A"))

    # Decided as the person enters, before the wait: nothing of the journey runs for them.
    cart = enrollment("abandoned_cart")
    assert (cart.state, cart.reason) == (State.CONTROL, "control group")
    later(clock, minutes=61)
    run()
    cart.refresh_from_db()
    assert cart.state == State.CONTROL
    assert not cart.steps.exists() and not Message.objects.exists()


def test_control_group_membership_is_deterministic():
    at = NOW
    entries = [
        Enrollment(campaign_id=7, profile_id=i, key="", trigger_at=at) for i in range(1, 2001)
    ]
    picks = [engine.in_control_group(e, 20) for e in entries]
    again = [Enrollment(campaign_id=7, profile_id=i, key="", trigger_at=at) for i in range(1, 2001)]
    assert picks == [engine.in_control_group(e, 20) for e in again]
    assert 300 < sum(picks) < 500
    assert not any(engine.in_control_group(e, 0) for e in entries)


def test_an_unknown_person_is_suppressed_with_no_email(ingest, clock, campaigns):
    send(ingest, added("anon-1", "A", anonymous=True))
    later(clock, minutes=61)
    run()
    assert enrollment("abandoned_cart").reason == "no email"


def test_the_audience_is_checked_at_send_time(ingest, clock, campaigns):
    from segments.models import Segment

    vip = Segment.objects.create(
        name="VIP",
        definition={
            "kind": "group",
            "match": "all",
            "negate": False,
            "conditions": [
                {
                    "kind": "attribute",
                    "negate": False,
                    "scope": "computed",
                    "path": "orders_count",
                    "operator": "gte",
                    "value": 5,
                }
            ],
        },
    )
    Campaign.objects.filter(kind="abandoned_cart").update(audience=vip)
    send(ingest, identify("ann"), added("ann", "A"))
    later(clock, minutes=61)
    run()
    assert enrollment("abandoned_cart").reason == "not in the audience"


# --- once, and only once -------------------------------------------------------------------


def test_exactly_one_confirmation_for_an_order_sent_twice_and_from_two_sources(
    ingest, clock, campaigns
):
    other = services.source_create(
        actor=Actor.system("test"), name="Backend", kind=Source.Kind.SERVER
    )
    order = ordered("ann", "o-9", {"sku": "A", "name": "Alpine boot", "price": 10, "quantity": 3})
    send(ingest, identify("ann"), order)
    send(ingest, order)  # the same order again, with another message id
    send(ingest, order, key=other.write_keys.get().key)
    run()
    run()

    assert Enrollment.objects.filter(campaign__kind="order_confirmation").count() == 1
    [email] = mail.outbox
    assert "Alpine boot x 3" in email.body and "30.00 USD" in email.body


def test_a_once_per_person_campaign_takes_a_person_once(ingest, clock, campaigns):
    browse = campaigns[Campaign.Kind.ABANDONED_BROWSE]
    Campaign.objects.filter(pk=browse.pk).update(reentry=Campaign.Reentry.ONCE)
    send(ingest, identify("ann"), viewed("ann", "A"), viewed("ann", "B"))  # one batch
    later(clock, hours=2)
    run()
    send(ingest, viewed("ann", "C"))  # after the first one was sent
    later(clock, hours=2)
    run()

    [entry] = Enrollment.objects.filter(campaign=browse)
    assert entry.once and entry.state == State.SENT


def test_once_per_person_is_kept_by_the_database(ingest, clock, campaigns):
    from django.db import IntegrityError, transaction

    browse = campaigns[Campaign.Kind.ABANDONED_BROWSE]
    send(ingest, identify("ann"), viewed("ann", "A"))
    first = Enrollment.objects.get(campaign=browse)
    Enrollment.objects.filter(pk=first.pk).update(once=True)
    # A second entry, as a concurrent worker reading "not in yet" would write it.
    with pytest.raises(IntegrityError), transaction.atomic():
        Enrollment.objects.create(
            campaign=browse,
            profile_id=first.profile_id,
            trigger_at=first.trigger_at,
            due_at=first.due_at,
            once=True,
        )


def test_a_campaign_switched_to_once_keeps_out_those_who_entered_before(ingest, clock, campaigns):
    browse = campaigns[Campaign.Kind.ABANDONED_BROWSE]
    send(ingest, identify("ann"), viewed("ann", "A"))
    later(clock, hours=2)
    run()
    send(ingest, viewed("ann", "B"))  # "again, but not while one is waiting": a second entry
    assert Enrollment.objects.filter(campaign=browse).count() == 2

    campaign_update(
        actor=Actor.system("test"), campaign=browse, values={"reentry": Campaign.Reentry.ONCE}
    )
    later(clock, hours=2)
    run()
    send(ingest, viewed("ann", "C"))

    entries = Enrollment.objects.filter(campaign=browse).order_by("pk")
    assert [e.once for e in entries] == [True, False]


def test_two_profiles_that_each_entered_once_merge_into_one_entry(ingest, clock, campaigns):
    browse = campaigns[Campaign.Kind.ABANDONED_BROWSE]
    Campaign.objects.filter(pk=browse.pk).update(reentry=Campaign.Reentry.ONCE)
    send(ingest, identify("ann"), viewed("ann", "A"))
    send(ingest, viewed("device-1", "B", anonymous=True))
    assert Enrollment.objects.filter(campaign=browse, once=True).count() == 2

    send(ingest, {**identify("ann"), "anonymousId": "device-1"})  # the two merge

    ann = Profile.objects.get(user_id="ann")
    entries = Enrollment.objects.filter(campaign=browse)
    assert {e.profile_id for e in entries} == {ann.pk}
    assert [e.once for e in entries.order_by("pk")] == [True, False]


def test_running_twice_never_sends_a_message_twice(ingest, clock, campaigns):
    send(ingest, identify("ann"), ordered("ann", "o-1"))
    run()
    run()
    assert len(mail.outbox) == 1
    assert Message.objects.get().attempts == 1


def test_a_message_whose_worker_stopped_before_handing_it_over_goes_once_after_its_lease(
    ingest, clock, campaigns
):
    send(ingest, identify("ann"), ordered("ann", "o-1"))
    # Recorded and leased to a worker that stops before it calls the channel.
    claimed, taken = engine._claim_batch(50, engine.RunResult())
    assert (claimed, [m.status for m in taken]) == (1, ["claimed"])
    run()
    assert mail.outbox == []  # nobody else takes it while the lease holds

    later(clock, seconds=61)
    run()
    run()
    assert len(mail.outbox) == 1
    message = Message.objects.get()
    assert (message.status, message.attempts) == ("sent", 2)
    assert mail.outbox[0].extra_headers["X-Idempotency-Key"] == message.idempotency_key


def test_channel_failures_retry_with_backoff_then_fail_with_the_error(
    ingest, clock, campaigns, monkeypatch, settings
):
    settings.CAMPAIGNS_MAX_ATTEMPTS = 2
    calls = []

    def refuse(message):
        calls.append(message.idempotency_key)
        raise channels.ChannelError("SMTP 451: try later")

    monkeypatch.setattr(channels, "email_send", refuse)
    send(ingest, identify("ann"), ordered("ann", "o-1"))
    run()
    message = Message.objects.get()
    assert (message.status, message.attempts, message.error) == (
        "claimed",
        1,
        "SMTP 451: try later",
    )
    assert message.next_attempt_at == NOW + timedelta(seconds=60)

    later(clock, seconds=30)
    run()
    assert len(calls) == 1  # not before the backoff

    later(clock, seconds=61)
    run()
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", 2)
    assert message.error == "SMTP 451: try later"
    assert enrollment("order_confirmation").state == State.FAILED
    # The same key on every attempt: the provider can tell a retry from a new message.
    assert calls == [message.idempotency_key] * 2


# --- people who identify, time zones, late events ------------------------------------------


def test_anonymous_then_identified_within_the_wait_gets_it_on_the_known_profile(
    ingest, clock, campaigns
):
    send(ingest, identify("ann"))
    ann = Profile.objects.get(user_id="ann")
    send(ingest, added("device-1", "A", anonymous=True, name="Alpine boot", price=10))
    anonymous = Enrollment.objects.get().profile_id
    assert anonymous != ann.pk
    later(clock, minutes=20)
    send(ingest, {**identify("ann"), "anonymousId": "device-1"})  # the two merge

    later(clock, minutes=61)
    run()
    [email] = mail.outbox
    assert email.to == ["ann@example.com"]
    assert "Alpine boot" in email.body
    assert Enrollment.objects.get().profile_id == ann.pk


def test_quiet_hours_hold_the_message_until_they_end(ingest, clock, campaigns):
    Campaign.objects.filter(kind="abandoned_cart").update(
        quiet_start=time(21, 0), quiet_end=time(8, 0)
    )
    later(clock, hours=8, minutes=30)  # 20:30 UTC
    send(ingest, identify("ann"), added("ann", "A"))
    later(clock, hours=9, minutes=31)  # due at 21:30: quiet
    run()
    assert mail.outbox == []
    cart = enrollment("abandoned_cart")
    assert cart.state == State.PENDING
    assert cart.due_at == NOW + timedelta(hours=20)  # 08:00 the next morning

    later(clock, hours=19, minutes=59)
    run()
    assert mail.outbox == []
    later(clock, hours=20, minutes=1)
    run()
    assert len(mail.outbox) == 1


def test_quiet_hours_read_the_persons_time_zone(ingest, clock, campaigns):
    Campaign.objects.filter(kind="abandoned_cart").update(
        quiet_start=time(21, 0), quiet_end=time(8, 0)
    )
    # Noon UTC is 21:00 in Tokyo.
    later(clock, minutes=-61)
    send(ingest, identify("ann", timezone="Asia/Tokyo"), added("ann", "A"))
    later(clock, minutes=1)
    run()
    assert mail.outbox == []
    assert enrollment("abandoned_cart").due_at == NOW + timedelta(hours=11)  # 08:00 in Tokyo


def test_back_filled_old_events_never_trigger(ingest, clock, campaigns):
    old = (NOW - timedelta(hours=25)).isoformat()
    send(
        ingest,
        identify("ann"),
        {**added("ann", "A"), "timestamp": old},
        {**ordered("ann", "o-old"), "timestamp": old},
    )
    run()
    assert not Enrollment.objects.exists()
    assert mail.outbox == []


def test_paused_campaigns_enroll_nobody_and_hold_what_waits(ingest, clock, campaigns):
    send(ingest, identify("ann"), added("ann", "A"))
    Campaign.objects.filter(kind="abandoned_cart").update(status=Campaign.Status.PAUSED)
    send(ingest, identify("bea"), added("bea", "A"))
    later(clock, minutes=61)
    run()
    assert mail.outbox == []
    assert enrollment("abandoned_cart").state == State.PENDING

    Campaign.objects.filter(kind="abandoned_cart").update(status=Campaign.Status.ACTIVE)
    run()
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]


# --- templates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ profile.__class__.__mro__ }}",
        "{{ settings.SECRET_KEY }}",
        "{{ campaign.name.__class__.__base__.__subclasses__() }}",
        "{% include 'base.html' %}",
    ],
)
def test_a_template_reaching_for_the_server_fails_safely(ingest, clock, campaigns, template):
    Campaign.objects.filter(kind="order_confirmation").update(html_template=template)
    send(ingest, identify("ann"), ordered("ann", "o-1"))
    run()

    assert mail.outbox == []
    message = Message.objects.get()
    assert message.status == Message.Status.FAILED
    assert message.error.startswith("template error: ")
    cart = enrollment("order_confirmation")
    assert cart.state == State.FAILED and cart.reason == message.error


def test_preview_renders_for_a_real_profile_without_recording(ingest, clock, campaigns):
    send(ingest, identify("ann"), added("ann", "A", name="Alpine boot", price=10))
    preview = engine.campaign_preview(
        campaigns["abandoned_cart"], Profile.objects.get(user_id="ann")
    )
    assert "Alpine boot" in preview.html
    assert preview.pk is None and not Message.objects.exists()
