"""A marketer in a real browser: open Campaigns, open Abandoned cart, set a short wait,
activate it, preview it for a shopper who left a product in their cart, send a test, and read
the reminder the engine sent in the Outbox."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import requests
import time_machine
from playwright.sync_api import Page, expect

from campaigns.defaults import campaigns_setup
from campaigns.engine import campaigns_run_due
from campaigns.models import Campaign, Message
from cdp_project.access.actors import Actor
from ingestion import services
from tests.conftest import process_stored
from tests.e2e.test_sources import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", "m@example.com", "s3cret-pass")


@pytest.fixture
def shop(db) -> str:
    """The default campaigns (as the migration creates them) and a source's write key."""
    campaigns_setup()
    return services.source_create(actor=Actor.system("test"), name="Web shop").write_keys.get().key


def post_events(base_url: str, key: str, *messages: dict) -> None:
    """What the shop's server sends, through the ingest API; then what the worker does."""
    batch = [{"messageId": f"e2e-{n}", **m} for n, m in enumerate(messages)]
    response = requests.post(f"{base_url}/v1/batch", json={"batch": batch}, auth=(key, ""))
    assert response.status_code == 200, response.text
    process_stored()


def test_marketer_activates_the_cart_reminder_previews_it_and_reads_it_in_the_outbox(
    page: Page, live_server, marketer, shop
):
    log_in(page, live_server.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()
    cart = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)
    row = page.locator(f"#campaign-{cart.pk}")
    expect(row).to_contain_text("Draft")
    expect(row).to_contain_text("waits 1 hour")

    # The editor: a five-minute wait.
    row.get_by_role("link", name="Abandoned cart").click()
    expect(page.get_by_role("heading", name=re.compile("^Abandoned cart"))).to_be_visible()
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_text("Exits on: Order completed")).to_be_visible()
    page.get_by_label("Wait", exact=True).fill("5")
    page.get_by_label("Unit").select_option("minutes")
    # The button at the top saves the edits, then activates.
    page.get_by_role("button", name="Save and activate").click()
    expect(page.get_by_role("status")).to_contain_text("is saved and active")
    expect(page.locator("table.settings")).to_contain_text("5 minutes")
    expect(page.locator("#campaign-status")).to_have_text("Active")
    assert Campaign.objects.get(pk=cart.pk).status == Campaign.Status.ACTIVE

    # A shopper adds a product and leaves.
    post_events(
        live_server.url,
        shop,
        {
            "type": "identify",
            "userId": "ann",
            "traits": {"email": "ann@example.com", "first_name": "Ann", "email_consent": True},
        },
        {
            "type": "track",
            "userId": "ann",
            "event": "Product Added",
            "properties": {"sku": "BOOT-1", "name": "Alpine boot", "price": 120},
        },
    )

    # The preview for her (htmx): subject, HTML in a sandboxed frame, text.
    page.get_by_label("Person", exact=True).fill("ann@example.com")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-subject")).to_have_text("You left 1 item in your cart")
    frame = page.frame_locator("iframe.message-html")
    expect(frame.get_by_text("Hi Ann,")).to_be_visible()
    expect(frame.get_by_role("link", name="Unsubscribe")).to_be_visible()
    expect(page.locator("iframe.message-html")).to_have_attribute("sandbox", "")
    expect(page.locator("#preview-text")).to_contain_text("Alpine boot x 1")
    expect(page).to_have_url(re.compile(r"\?profile=ann%40example.com"))

    page.get_by_label("Send a test to").fill("me@shop.example")
    page.get_by_role("button", name="Send a test").click()
    expect(page.get_by_role("status")).to_contain_text("A test was sent to me@shop.example")

    # The wait runs out; beat's run sends the reminder.
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=6)):
        assert campaigns_run_due().sent == 1
    sent = Message.objects.get(profile__user_id="ann")

    page.get_by_role("link", name="Messages").click()
    expect(page.get_by_role("heading", name="Outbox")).to_be_visible()
    rows = page.locator("table.outbox tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("ann@example.com")  # the newest: the real one
    expect(rows.last).to_contain_text("Test")
    rows.first.get_by_role("link", name="You left 1 item in your cart").click()

    expect(page).to_have_url(f"{live_server.url}/campaigns/outbox/{sent.pk}/")
    expect(page.get_by_role("heading", name="You left 1 item in your cart")).to_be_visible()
    headers = page.locator("table.headers")
    expect(headers).to_contain_text("List-Unsubscribe-Post")
    expect(headers).to_contain_text("List-Unsubscribe=One-Click")
    expect(page.locator("#message-text")).to_contain_text("Alpine boot x 1")
    expect(page.frame_locator("iframe.message-html").get_by_text("Alpine boot")).to_be_visible()
    expect(page.get_by_text("Product Added at")).to_be_visible()
