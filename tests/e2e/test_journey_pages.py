"""A marketer in a real browser reads a journey at work: its steps with their counts, the
people at a step, and one person's journeys on their page (where they are, what comes next
and when, the path they took)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from campaigns.engine import campaigns_run_due
from campaigns.models import Campaign, JourneyVersion
from cdp_project.access.actors import Actor
from cdp_project.devtools.benchmarks import JOURNEY_DEFINITION
from ingestion import services
from tests.e2e.test_campaigns import post_events
from tests.e2e.test_sources import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", "m@example.com", "s3cret-pass")


@pytest.fixture
def journey(live_server) -> Campaign:
    """ "Shoes in the cart", active: ann adds a boot and waits up to an hour for her order;
    cat adds one and orders at once, and leaves by "yes"."""
    key = services.source_create(actor=Actor.system("test"), name="Web shop").write_keys.get().key
    campaign = Campaign.objects.create(
        name="Shoes in the cart", kind=Campaign.Kind.JOURNEY, status=Campaign.Status.ACTIVE
    )
    campaign.version = JourneyVersion.objects.create(
        campaign=campaign, number=1, definition={**JOURNEY_DEFINITION, "exit_on": []}
    )
    campaign.save(update_fields=["version"])
    people = [
        {
            "type": "identify",
            "userId": name,
            "traits": {"email": f"{name}@example.com", "name": name.title(), "email_consent": True},
        }
        for name in ("ann", "cat")
    ]
    added = [
        {
            "type": "track",
            "userId": name,
            "event": "Product Added",
            "properties": {"sku": "BOOT-1", "price": 120, "cart_id": f"cart-{name}"},
        }
        for name in ("ann", "cat")
    ]
    post_events(live_server.url, key, *people, *added)
    campaigns_run_due()
    order = {
        "type": "track",
        "userId": "cat",
        "event": "Order Completed",
        "properties": {"order_id": "o-1", "cart_id": "cart-cat", "total": 120},
    }
    batch = [{**order, "messageId": "e2e-order"}]
    post_events(live_server.url, key, *batch)
    campaigns_run_due()
    return campaign


def test_marketer_reads_a_journey_and_a_persons_place_in_it(
    page: Page, live_server, marketer, journey
):
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/campaigns/")
    page.get_by_role("link", name="Shoes in the cart").first.click()

    flow = page.locator("#journey")
    expect(flow.locator("#journey-trigger")).to_contain_text("Product added to cart")
    wait = flow.locator("#step-wait_order")
    expect(wait).to_contain_text("Wait up to 1 hour for “Order completed”")
    counts = wait.locator(".step-card").first
    expect(counts.locator(".step-counts")).to_contain_text(re.compile(r"Entered\s*2"))
    expect(counts.locator(".waiting")).to_contain_text("1")
    branches = wait.locator(".journey-branches").first
    expect(branches.locator(".branch-label").first).to_contain_text("yes 1")
    expect(flow.locator("#step-opted_in")).to_be_visible()
    expect(flow.locator("#step-cart")).to_be_visible()
    expect(flow.locator("#step-done")).to_be_visible()

    # The people waiting at that step.
    counts.get_by_role("link", name=re.compile("People at this step")).click()
    expect(page.get_by_role("heading", name="Enrollments")).to_be_visible()
    rows = page.locator("#enrollment-table tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("State").select_option("pending")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ann@example.com")
    expect(page).to_have_url(re.compile(r"state=pending"))
    page.get_by_label("Person").fill("cat@example.com")
    page.get_by_label("State").select_option("")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Completed")

    # Ann's page: where she is, what comes next and when.
    page.get_by_label("Person").fill("ann")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link", name="Ann").click()
    section = page.locator("#journeys")
    expect(section).to_contain_text("Shoes in the cart")
    expect(section.locator(".next-up")).to_contain_text("Waiting for “Order completed” until")
    expect(section.locator(".next-up")).to_contain_text("if not: condition split “opted_in”")

    # Cat's: the path she took.
    page.goto(f"{live_server.url}/profiles/?q=cat")
    page.get_by_role("link", name="Cat").first.click()
    section = page.locator("#journeys")
    section.locator("summary").click()
    expect(section.locator(".journey-path")).to_contain_text("The activity came")
