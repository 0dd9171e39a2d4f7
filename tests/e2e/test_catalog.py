"""A marketer in a real browser: the catalog discovers what an SDK sends, and blocking an
activity refuses its next event, with the reason in the debugger."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from segment.analytics.client import Client as SegmentClient

from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.models import Activity, Event
from tests.conftest import wait_for
from tests.e2e.test_sources import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ORDER = {
    "order_id": "O-77",
    "total": 139.8,
    "shipping": {"method": "express"},
    "products": [
        {"sku": "SHOE-1", "name": "Trail shoe", "price": 89.9, "category": "Shoes"},
        {"sku": "SOCK-2", "name": "Sock", "price": 49.9, "category": "Socks"},
    ],
}


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", "m@example.com", "s3cret-pass")


def test_catalog_discovers_an_activity_and_blocking_refuses_its_next_event(
    page: Page, live_server, marketer, celery_worker
):
    source = services.source_create(actor=Actor.system("test"), name="Shop")
    client = SegmentClient(
        source.write_keys.get().key, host=live_server.url, sync_mode=True, max_retries=0
    )
    client.track("user-7", "Gift Card Redeemed", ORDER)
    # The worker discovers it from the task published after commit: no sweep, no reload.
    wait_for(
        lambda: Activity.objects.filter(name="Gift Card Redeemed").exists(),
        timeout=20,
        what="the worker to catalogue the activity",
    )

    log_in(page, live_server.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Activities").click()
    page.get_by_role("link", name="Gift Card Redeemed").click()
    price = page.locator("tr", has=page.locator("code.path", has_text="products[].price"))
    expect(price.locator(".type .badge")).to_have_text("number")
    expect(price.locator(".examples")).to_contain_text("89.9")
    category = page.locator("tr", has=page.locator("code.path", has_text="products[].category"))
    expect(category.locator(".type .badge")).to_have_text("string")

    # Name a property inline (htmx): the row is replaced in place.
    price.get_by_text("Edit").click()
    price.get_by_label("Display name").fill("Item price")
    price.get_by_role("button", name="Save").click()
    saved = page.locator("tr", has=page.locator("code.path", has_text="products[].price"))
    expect(saved).to_contain_text("Saved")
    expect(saved).to_contain_text("Item price")

    # Block it.
    page.get_by_label("Blocked").check()
    page.get_by_role("button", name="Save", exact=True).last.click()
    expect(page.get_by_role("status")).to_contain_text("is blocked")

    client.track("user-7", "Gift Card Redeemed", ORDER)
    assert Event.objects.filter(name="Gift Card Redeemed").count() == 1

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sources").click()
    page.get_by_role("link", name="Shop", exact=True).click()
    refusal = page.locator("#refusal-rows details").first
    expect(refusal).to_contain_text("activity_blocked")
    expect(refusal).to_contain_text("Gift Card Redeemed")
    activity = Activity.objects.get(name="Gift Card Redeemed")
    assert activity.blocked_count == 1


def test_an_activity_snippet_is_copied_with_placeholders_by_keyboard(
    page: Page, live_server, marketer
):
    activity = Activity.objects.create(kind="track", name="Order Completed", volume=2)
    counts = {"volume": 2}
    activity.properties.create(path="order_id", string_count=2, examples=["O-77"], **counts)
    activity.properties.create(path="total", number_count=2, examples=[139.8], **counts)
    activity.properties.create(
        path="email", string_count=2, examples=["ada@example.com"], personal=True, **counts
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/activities/{activity.pk}/")

    copy = page.get_by_role("button", name="Copy the web snippet")
    copy.focus()
    page.keyboard.press("Enter")
    expect(page.locator("[data-copy-status]")).to_have_text("Copied.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#snippet-web").text_content()
    assert copied.startswith('analytics.track("Order Completed", {')
    assert '"order_id": "<order_id>",  // e.g. "O-77"' in copied
    assert '"total": 0.0,  // e.g. 139.8' in copied
    assert '"email": "<email>",\n' in copied and "ada@example.com" not in copied

    # The curl snippet's button copies its own text, placeholders and all.
    page.get_by_text("curl", exact=True).click()
    page.locator("[data-copy-status]").evaluate("status => { status.textContent = ''; }")
    page.get_by_role("button", name="Copy the curl snippet").click()
    expect(page.locator("[data-copy-status]")).to_have_text("Copied.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("# Replace the placeholders")
    assert '"userId": "<user_id>"' in copied
