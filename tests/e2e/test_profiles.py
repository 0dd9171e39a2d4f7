"""A marketer in a real browser: find a customer, read their timeline, filter it, open an
event's products, scroll for older activity, and leave a note."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from segment.analytics.client import Client as SegmentClient

from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.models import Event
from profiles.models import ProfileNote
from tests.e2e.test_sources import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ORDER = {
    "order_id": "O-77",
    "total": 139.8,
    "currency": "USD",
    "products": [
        {"sku": "SHOE-1", "name": "Trail shoe", "price": 89.9, "quantity": 1},
        {"sku": "SOCK-2", "name": "Wool sock", "price": 49.9, "quantity": 1},
    ],
}


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", "m@example.com", "s3cret-pass")


@pytest.fixture
def shop(live_server) -> SegmentClient:
    """Ada browsed anonymously, signed in, viewed many products and ordered; Bob visited
    once. Sent with the Segment SDK, so profiles are stitched as in production."""
    source = services.source_create(actor=Actor.system("test"), name="Web shop")
    client = SegmentClient(
        source.write_keys.get().key, host=live_server.url, max_retries=0, upload_size=100
    )
    start = datetime.now(UTC) - timedelta(days=3)
    client.page(anonymous_id="anon-ada", name="Home", properties={"path": "/"}, timestamp=start)
    client.identify(
        "user-ada",
        {"email": "ada@example.com", "name": "Ada Lovelace"},
        anonymous_id="anon-ada",
        timestamp=start + timedelta(minutes=1),
    )
    for n in range(70):
        client.track(
            "user-ada",
            "Product Viewed",
            {"sku": f"SKU-{n}", "name": f"Product {n}", "price": 10 + n},
            timestamp=start + timedelta(hours=1, minutes=n),
        )
    client.track("user-ada", "Order Completed", ORDER, timestamp=start + timedelta(days=1))
    client.identify("user-bob", {"email": "bob@example.com"}, timestamp=start)
    client.flush()
    client.join()
    assert Event.objects.count() == 74
    # What the worker does after commit: the catalog and the computed attributes.
    services.events_process(event_ids=list(Event.objects.values_list("pk", flat=True)))
    return client


def test_marketer_finds_a_customer_and_reads_their_timeline(
    page: Page, live_server, marketer, shop
):
    log_in(page, live_server.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profiles").click()
    rows = page.locator("#profile-rows tbody tr")
    expect(rows).to_have_count(2)

    # Search as you type (htmx): the rows narrow without a page load.
    page.get_by_label("Search profiles").fill("ada@ex")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ada@example.com")
    rows.first.get_by_role("link").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Ada")
    identities = page.locator("table.identities")
    expect(identities).to_contain_text("anon-ada")
    expect(identities).to_contain_text("user-ada")
    expect(page.locator("svg.identity-graph g.node")).to_have_count(3)

    # Newest first: the order is on top; 50 events are shown until one scrolls.
    events = page.locator("#timeline-entries details.event")
    expect(events).to_have_count(50)
    expect(events.first).to_contain_text("Order Completed")

    # Filter by activity (htmx): only the order is left; expand it, see its products.
    page.get_by_label("Activity").select_option(label="Order Completed")
    expect(events).to_have_count(1)
    expect(page).to_have_url(re.compile(r"\?activity=track%3AOrder(\+|%20)Completed"))
    events.first.locator("summary").focus()
    page.keyboard.press("Enter")  # the keyboard opens it too
    products = events.first.locator("table.items")
    expect(products).to_be_visible()
    expect(products.locator("thead")).to_contain_text("sku")
    expect(products.locator("tbody tr")).to_have_count(2)
    expect(products).to_contain_text("Trail shoe")

    # Back to everything, then scroll: older activity loads as the end comes into view.
    page.get_by_label("Activity").select_option(label="All activity and notes")
    expect(events).to_have_count(50)
    page.locator("#timeline-more").scroll_into_view_if_needed()
    expect(events).to_have_count(73)
    expect(page.get_by_text("The beginning of this timeline.")).to_be_visible()
    expect(events.last).to_contain_text("Page viewed")


def test_marketer_adds_a_note_that_shows_on_the_timeline(page: Page, live_server, marketer, shop):
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/profiles/{_ada_pk()}/")

    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("alert")).to_contain_text("the note is empty")

    page.get_by_label("Add a note").fill("Called about the shoe size: sending a 39.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("status")).to_contain_text("Note added.")
    expect(page.get_by_label("Add a note")).to_have_value("")
    note = page.locator("#timeline-entries article.note").first
    expect(note).to_contain_text("sending a 39")
    expect(note).to_contain_text("by marketer")
    # It is the newest entry: above the order of two days ago.
    first_day = page.locator("#timeline-entries section.day").first
    expect(first_day.locator("h3")).to_have_text("Today")
    assert ProfileNote.objects.get().author.username == "marketer"


def test_profile_page_reads_on_a_phone(page: Page, live_server, marketer, shop):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/profiles/{_ada_pk()}/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    # Nothing wider than the screen: tables scroll inside their own box.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width


SHOTS = Path("/work/wt/profilepage-shots")


def _screenshot(page: Page, name: str) -> None:
    if SHOTS.is_dir():
        page.screenshot(path=str(SHOTS / name), full_page=False)


def test_first_timeline_entry_shows_without_scrolling_on_a_laptop(
    page: Page, live_server, marketer, shop
):
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/profiles/{_ada_pk()}/")
    first = page.locator("#timeline-entries .entries > li").first
    expect(first).to_contain_text("Order Completed")
    assert page.evaluate("window.scrollY") == 0
    box = first.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 900, box
    # Identity, key figures and consent sit beside the timeline, not above it.
    side = page.get_by_role("complementary", name="About this person", exact=True).bounding_box()
    assert side is not None and side["x"] + side["width"] <= box["x"], (side, box)
    # The identity graph waits, folded, until asked for: from the identity card too.
    graph = page.locator("svg.identity-graph")
    expect(graph).to_be_hidden()
    page.get_by_role("link", name="How these ids were linked").click()
    expect(graph).to_be_visible()
    page.locator("details#identity-graph > summary").click()
    expect(graph).to_be_hidden()
    page.evaluate("window.scrollTo(0, 0)")
    _screenshot(page, "profile-1440.png")


def test_profile_sections_open_and_close_by_keyboard_on_a_phone(
    page: Page, live_server, marketer, shop
):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/profiles/{_ada_pk()}/")
    _screenshot(page, "profile-390.png")
    orders = page.locator("details#orders")
    summary = orders.locator("summary")
    expect(orders.locator("table.orders")).to_be_hidden()
    summary.focus()
    page.keyboard.press("Enter")
    expect(orders.locator("table.orders")).to_be_visible()
    expect(orders).to_contain_text("O-77")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    page.keyboard.press("Space")
    expect(orders.locator("table.orders")).to_be_hidden()
    # The side column stacks: identity above the timeline, preferences below it.
    identity = page.locator("#identities").bounding_box()
    timeline = page.locator("#timeline").bounding_box()
    more = page.get_by_role("complementary", name="More about this person").bounding_box()
    assert identity and timeline and more
    assert identity["y"] < timeline["y"] < more["y"]
    page.evaluate("window.scrollTo(0, document.querySelector('#timeline').offsetTop)")
    _screenshot(page, "profile-390-timeline.png")


def _ada_pk() -> int:
    from profiles.models import Profile

    return Profile.objects.get(user_id="user-ada").pk
