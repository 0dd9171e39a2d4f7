"""What `make run` sets up beside the demo store: example segments with members, and the
built-in campaigns active while email stays on the machine, so the Outbox fills."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import override_settings

from campaigns.defaults import campaigns_setup
from campaigns.engine import campaigns_run_due
from campaigns.models import Campaign, Message
from cdp_project.access.actors import Actor
from cdp_project.access.models import AuditEntry
from cdp_project.devtools.demo_examples import (
    EXAMPLE_SEGMENTS,
    demo_campaigns_activate,
    demo_segments_create,
)
from ingestion import services
from ingestion.models import Event
from segments.membership import segment_refresh
from segments.models import Segment

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def built_in_campaigns():
    # A migration creates them; a transactional test's flush took them away.
    campaigns_setup()


def _play_demo_store(url: str) -> None:
    services.source_create(actor=Actor.system("test"), name="Demo store")
    # What `make run` plays on its first start.
    call_command(
        "simulate_store", "--url", url, "--shoppers", "120", "--days", "45", stdout=StringIO()
    )
    ids = list(Event.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), 500):
        services.events_process(event_ids=ids[start : start + 500])


def test_the_demo_campaigns_send_to_the_outbox_and_the_example_segments_have_members(
    live_server,
):
    activated = demo_campaigns_activate()
    assert {c.kind for c in activated} == {
        "abandoned_browse",
        "abandoned_cart",
        "order_confirmation",
    }
    assert set(Campaign.objects.values_list("status", flat=True)) == {"active"}

    _play_demo_store(live_server.url)
    campaigns_run_due()
    sent = Message.objects.filter(status="sent")
    # The last day's orders are confirmed at once; the history before it triggers nothing.
    confirmations = sent.filter(campaign__kind="order_confirmation")
    assert confirmations.exists()
    assert all(m.recipient.endswith("@example.com") for m in sent)
    assert len(mail.outbox) == sent.count()

    saved = demo_segments_create()
    assert [s.name for s in saved] == [name for name, _, _ in EXAMPLE_SEGMENTS]
    for segment in saved:
        result = segment_refresh(segment)
        assert result.error == "", segment.name
        assert result.size > 0, segment.name
    repeat = Segment.objects.get(name="Repeat customers")
    assert all(m.profile.orders_count >= 2 for m in repeat.memberships.select_related("profile"))

    # Once only: a second first start, or a segment of the same name, saves nothing again.
    assert demo_segments_create() == []
    assert Segment.objects.count() == len(EXAMPLE_SEGMENTS)

    # The audit log names the demo setup as the author of what it activated and saved.
    demo = AuditEntry.objects.filter(system_actor="demo").values_list("action", flat=True)
    assert sorted(demo) == sorted(["campaign.status"] * 3 + ["segment.create"] * len(saved))


@override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend")
def test_campaigns_stay_drafts_when_email_would_leave_the_machine():
    assert demo_campaigns_activate() == []
    assert set(Campaign.objects.values_list("status", flat=True)) == {"draft"}


def test_a_paused_campaign_is_left_paused():
    browse = Campaign.objects.get(kind="abandoned_browse")
    browse.status = "paused"
    browse.save(update_fields=["status"])
    assert {c.kind for c in demo_campaigns_activate()} == {"abandoned_cart", "order_confirmation"}
    browse.refresh_from_db()
    assert browse.status == "paused"


def test_a_segment_the_catalog_cannot_check_is_skipped_not_raised():
    # Nothing played: the catalog has no `category` on Product Added to filter on.
    saved = demo_segments_create()
    assert "Footwear in the cart, no order" not in {s.name for s in saved}
    assert {s.name for s in saved} == {"Repeat customers", "Big spenders", "Lapsed customers"}
