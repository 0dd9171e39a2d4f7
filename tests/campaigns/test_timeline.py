"""Campaign messages on the profile timeline: every message sent, and why one was not, among
the person's events at their time, on exactly one page each."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign, Enrollment, Message
from campaigns.timeline import profile_timeline_messages
from ingestion.models import CommerceRole
from profiles import selectors
from profiles.models import Profile
from tests.campaigns.conftest import added, identify, later, ordered, run, send

pytestmark = pytest.mark.django_db

State = Enrollment.State
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HTMX = {"HX-Request": "true"}


def minute(n: float) -> datetime:
    return START + timedelta(minutes=n)


@pytest.fixture
def signed_in(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("marketer", "m@example.com", "pw"))
    return client


def _campaign(name: str = "Abandoned cart") -> Campaign:
    return Campaign.objects.create(
        name=name, kind=Campaign.Kind.ABANDONED_CART, trigger_role=CommerceRole.PRODUCT_ADDED
    )


def _message(profile: Profile, campaign: Campaign, at: datetime, **fields) -> Message:
    fields = {"status": Message.Status.SENT, "subject": "Your cart is waiting", **fields}
    return Message.objects.create(
        profile=profile,
        campaign=campaign,
        channel=Campaign.Channel.EMAIL,
        recipient="ada@example.com",
        idempotency_key=f"k-{Message.objects.count()}-{at.timestamp()}",
        created_at=at,
        **fields,
    )


def _not_sent(profile: Profile, campaign: Campaign, at: datetime, state: str, reason: str):
    return Enrollment.objects.create(
        campaign=campaign,
        profile=profile,
        trigger_at=at - timedelta(hours=1),
        due_at=at,
        state=state,
        reason=reason,
        updated_at=at,
    )


# --- end to end ------------------------------------------------------------------------------


def test_a_sent_confirmation_and_a_cart_exited_by_the_order_show_on_the_profile(
    ingest, clock, campaigns, signed_in
):
    send(ingest, identify("ann"), added("ann", "A", price=10))
    later(clock, minutes=20)
    send(ingest, ordered("ann", "o-1", {"sku": "A", "name": "Alpine boot", "price": 10}))
    run()
    profile = Profile.objects.get(user_id="ann")
    message = Message.objects.get(profile=profile)
    cart = Enrollment.objects.get(campaign__kind=Campaign.Kind.ABANDONED_CART)

    html = signed_in.get(f"/profiles/{profile.pk}/").content.decode()

    sent = re.search(rf'id="message-{message.pk}".*?</article>', html, re.S).group(0)
    assert "Email sent" in sent and "Your order o-1 is confirmed" in sent
    assert f'href="/campaigns/outbox/{message.pk}/"' in sent
    assert message.campaign.name in sent
    not_sent = re.search(rf'id="enrollment-{cart.pk}".*?</article>', html, re.S).group(0)
    assert f"{cart.campaign.name} not sent: converted: order completed" in not_sent
    # Newest first: the confirmation (sent at the run) above the order event, the cart's
    # exit (at the order's arrival) among them, the add to cart below.
    added_event = f'id="event-{profile.events.get(name="Product Added").pk}"'
    assert html.index(f'id="message-{message.pk}"') < html.index(added_event)
    assert html.index(f'id="enrollment-{cart.pk}"') < html.index(added_event)


# --- the entries -----------------------------------------------------------------------------


def test_entries_say_what_was_sent_failed_or_not_sent_and_why(ingest):
    ingest("identify", {"userId": "ada", "traits": {"email": "ada@example.com"}})
    profile = Profile.objects.get()
    cart = _campaign()
    sent = _message(profile, cart, minute(1))
    failed = _message(
        profile, cart, minute(2), status=Message.Status.FAILED, error="550 mailbox unavailable"
    )
    exited = _not_sent(profile, cart, minute(3), State.EXITED, "converted: order completed")
    capped = _not_sent(profile, cart, minute(4), State.SUPPRESSED, "capped: this campaign's limit")
    control = _not_sent(profile, cart, minute(5), State.CONTROL, "control group")
    # Waiting and sent enrollments are not entries: the message is.
    _not_sent(profile, cart, minute(6), State.PENDING, "")
    _not_sent(profile, cart, minute(7), State.SENT, "")

    with CaptureQueriesContext(connection) as queries:
        entries = {e.anchor: e for e in profile_timeline_messages(profile=profile)}
    assert len(queries) == 1

    assert set(entries) == {
        f"message-{sent.pk}",
        f"message-{failed.pk}",
        f"enrollment-{exited.pk}",
        f"enrollment-{capped.pk}",
        f"enrollment-{control.pk}",
    }
    first = entries[f"message-{sent.pk}"]
    assert (first.at, first.badge, first.tone) == (minute(1), "Email sent", "ok")
    assert first.title == "Abandoned cart: Your cart is waiting"
    assert first.url == f"/campaigns/outbox/{sent.pk}/"
    second = entries[f"message-{failed.pk}"]
    assert (second.badge, second.tone, second.detail) == (
        "Email failed",
        "off",
        "550 mailbox unavailable",
    )
    assert entries[f"enrollment-{exited.pk}"].title == (
        "Abandoned cart not sent: converted: order completed"
    )
    assert entries[f"enrollment-{exited.pk}"].at == minute(3)
    assert entries[f"enrollment-{capped.pk}"].badge == "Not sent"
    assert entries[f"enrollment-{control.pk}"].title == "Abandoned cart not sent: control group"


def test_entries_are_read_in_a_time_range_of_the_persons_own(ingest):
    ingest(
        "batch",
        {
            "batch": [
                {"type": "identify", "userId": "ada", "traits": {"email": "a@example.com"}},
                {"type": "identify", "userId": "bob", "traits": {"email": "b@example.com"}},
            ]
        },
    )
    ada, bob = Profile.objects.get(user_id="ada"), Profile.objects.get(user_id="bob")
    cart = _campaign()
    early = _message(ada, cart, minute(1))
    middle = _not_sent(ada, cart, minute(5), State.EXITED, "converted: order completed")
    late = _message(ada, cart, minute(10))
    _message(bob, cart, minute(5))

    def anchors(**bounds) -> set[str]:
        return {e.anchor for e in profile_timeline_messages(profile=ada, **bounds)}

    assert anchors() == {f"message-{early.pk}", f"enrollment-{middle.pk}", f"message-{late.pk}"}
    # `since` is inclusive, `until` exclusive: a page boundary shows an entry once.
    assert anchors(since=minute(5), until=minute(10)) == {f"enrollment-{middle.pk}"}
    assert anchors(until=minute(5)) == {f"message-{early.pk}"}
    assert anchors(since=minute(5)) == {f"enrollment-{middle.pk}", f"message-{late.pk}"}


# --- on the timeline -------------------------------------------------------------------------


@pytest.fixture
def busy(ingest) -> Profile:
    """120 page views a minute apart, and campaign entries among and around them."""
    ingest(
        "batch",
        {
            "batch": [
                {"type": "page", "userId": "ada", "timestamp": minute(n).isoformat()}
                for n in range(120)
            ]
        },
    )
    profile = Profile.objects.get()
    cart = _campaign()
    for n in (-5, 10.5, 69, 70, 119.5, 200):
        if n in (69, 200):
            _not_sent(profile, cart, minute(n), State.SUPPRESSED, "no consent")
        else:
            _message(profile, cart, minute(n))
    return profile


def _all_pages(profile: Profile, **filters) -> list[list[selectors.TimelineEntry]]:
    pages = []
    before = None
    while True:
        page = selectors.profile_timeline(profile=profile, before=before, **filters)
        pages.append([entry for day in page.days for entry in day.entries])
        if page.next_cursor is None:
            return pages
        before = page.next_cursor


def test_messages_sit_among_the_events_at_their_time_on_exactly_one_page(busy):
    pages = _all_pages(busy)
    entries = [entry for page in pages for entry in page]
    anchors = [e.extra.anchor for e in entries if e.extra]
    assert len(anchors) == len(set(anchors)) == 6
    times = [e.at for e in entries]
    assert times == sorted(times, reverse=True)
    assert sum(1 for e in entries if e.event) == 120
    # Each page holds the entries from its oldest event up to where the previous one ended;
    # the last page holds everything older.
    assert [sum(1 for e in page if e.extra) for page in pages] == [3, 1, 2]
    assert pages[0][0].extra and pages[0][0].at == minute(200)
    assert pages[-1][-1].extra and pages[-1][-1].at == minute(-5)


def test_a_page_reads_the_entries_in_one_query_whatever_their_number(busy):
    page = selectors.profile_timeline(profile=busy)
    with CaptureQueriesContext(connection) as queries:
        selectors.profile_timeline(profile=busy, before=page.next_cursor)
    # events, notes, recorded consent, campaign entries
    assert len(queries) == 4


def test_a_filtered_timeline_shows_events_only(busy):
    for filters in ({"activity": "page"}, {"source_id": busy.events.first().source_id}):
        entries = [e for page in _all_pages(busy, **filters) for e in page]
        assert entries and all(e.event for e in entries)


@override_settings(PROFILE_TIMELINE_EXTRAS=[])
def test_without_extras_the_timeline_is_events_and_notes(busy):
    entries = [e for page in _all_pages(busy) for e in page]
    assert all(e.event for e in entries) and len(entries) == 120


def test_the_page_links_each_message_to_the_outbox_and_says_why_others_were_not_sent(
    busy, signed_in
):
    html = signed_in.get(f"/profiles/{busy.pk}/").content.decode()
    assert html.count('class="row note extra"') == 3
    assert "Abandoned cart not sent: no consent" in html
    message = Message.objects.get(created_at=minute(119.5))
    link = f'<a href="/campaigns/outbox/{message.pk}/">Abandoned cart: Your cart is waiting</a>'
    assert link in html
    filtered = signed_in.get(
        f"/profiles/{busy.pk}/?activity=page", headers={**HTMX, "HX-Target": "timeline-entries"}
    ).content.decode()
    assert 'class="row note extra"' not in filtered
