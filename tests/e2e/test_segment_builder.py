"""A marketer in a real browser builds a nested segment by clicking, watches the count change
as conditions are added and values typed, asks why a person is in, saves, and reopens it
intact. The people are the hand-made store of tests/segments/conftest.py."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from ingestion.catalog.discovery import forget_known_paths
from segments.definition import definition_clean
from segments.models import Segment
from tests.e2e.test_sources import log_in
from tests.segments.conftest import (
    EVER,
    computed,
    did,
    group,
    last,
    store_build,
    where,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", "m@example.com", "s3cret-pass")


@pytest.fixture
def store(transactional_db):
    forget_known_paths()
    yield store_build()
    forget_known_paths()


def test_marketer_builds_a_nested_segment_saves_and_reopens_it(
    page: Page, live_server, marketer, store
):
    log_in(page, live_server.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Segments").click()
    page.get_by_role("link", name="New segment").click()
    expect(page.get_by_role("heading", name="New segment")).to_be_visible()
    count = page.locator("#preview-count")
    preview = page.locator("#preview")
    expect(count).to_have_text(str(len(store.people)))  # no conditions: everyone
    page.get_by_label("Name").fill("Shoe fans adding to cart")

    # All of: did Product Added at least once in the last 7 days (Ada, Gus)…
    page.locator("#node-n > .add").get_by_role("button", name="+ Condition").click()
    expect(preview).to_contain_text("choose an activity")
    page.locator("#node-n-0-activity").select_option("track:Product Added")
    expect(count).to_have_text("2")

    # …and any of: Order Completed with a pair of shoes among its products, or an attribute.
    page.locator("#node-n > .add").get_by_role("button", name="+ Group").click()
    expect(page.locator("#node-n-1-match")).to_have_value("any")
    page.locator("#node-n-1-0-activity").select_option("track:Order Completed")
    expect(count).to_have_text("1")  # Ada ordered 5 days ago; Gus never did
    page.locator("#node-n-1-0-window-type").select_option("ever")
    page.locator("#node-n-1-0").get_by_role("button", name="+ Property filter").click()
    page.locator("#n-1-0-where-0-path").select_option("products[].category")
    value = page.locator("#n-1-0-where-0-value")
    # The text input suggests the values the latest orders hold.
    expect(page.locator("#n-1-0-where-0-examples option[value='Bags']")).to_have_count(1)
    value.press_sequentially("Hats", delay=40)
    expect(count).to_have_text("0")  # only Cleo bought a hat, and she added nothing
    expect(value).to_be_focused()  # typing never redraws the input
    value.fill("")
    value.press_sequentially("Shoes", delay=40)
    expect(count).to_have_text("1")
    expect(value).to_be_focused()

    page.locator("#node-n-1 > .add").get_by_role("button", name="+ Condition").click()
    page.locator("#node-n-1-1-kind").select_option("attribute")
    expect(page.locator("#node-n-1-1-field")).to_have_value("computed:orders_count")
    orders = page.locator("#n-1-1-value")
    orders.fill("0")  # anyone with zero orders or more: Gus is back in
    expect(count).to_have_text("2")
    expect(preview.locator(".sentence")).to_contain_text("Product Added")

    # Why is Gus in?
    page.get_by_label("Profile to check").fill("#" + str(store.people["Gus"]))
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#explain")).to_contain_text("In the segment")
    expect(page.locator("#explain .unmet")).to_have_count(1)  # no shoe order

    page.get_by_role("button", name="Save segment").click()
    segment = Segment.objects.get(name="Shoe fans adding to cart")
    expect(page).to_have_url(re.compile(rf"/segments/{segment.pk}/$"))
    expected = group(
        did("Product Added", window=last(7)),
        group(
            did(
                "Order Completed",
                window=EVER,
                filters=[where("products[].category", "equals", "Shoes")],
            ),
            computed("orders_count", "gte", 0),
            match="any",
        ),
    )
    assert segment.definition == definition_clean(expected)

    # A small segment is counted by the save: its page opens with its members.
    expect(page.get_by_role("status")).to_contain_text("saved: 2 people")
    expect(page.locator("#segment-size")).to_have_text("2")
    expect(page.locator("#segment-freshness")).to_contain_text("Refreshed")
    expect(page.locator("#segment-size-block")).not_to_contain_text("Not refreshed yet")
    expect(page.locator("#members").get_by_role("link", name="Gus")).to_be_visible()
    expect(page.locator("svg.size-chart")).to_be_visible()

    # Reopened, the builder shows the same tree, and it counts the same.
    page.goto(live_server.url + f"/segments/{segment.pk}/edit/")
    expect(page.get_by_label("Name")).to_have_value("Shoe fans adding to cart")
    expect(page.locator("#node-n-0-activity")).to_have_value("track:Product Added")
    expect(page.locator("#node-n-0-window-amount")).to_have_value("7")
    expect(page.locator("#node-n-1-match")).to_have_value("any")
    expect(page.locator("#node-n-1-0-activity")).to_have_value("track:Order Completed")
    expect(page.locator("#node-n-1-0-window-type")).to_have_value("ever")
    expect(page.locator("#n-1-0-where-0-path")).to_have_value("products[].category")
    expect(page.locator("#n-1-0-where-0-value")).to_have_value("Shoes")
    expect(page.locator("#node-n-1-1-field")).to_have_value("computed:orders_count")
    expect(page.locator("#n-1-1-value")).to_have_value("0")
    expect(count).to_have_text("2")

    # Negating the nested group leaves the people with none of it: nobody here.
    page.locator("#node-n-1-negate").check()
    expect(count).to_have_text("0")

    # A copy opens in the builder with the saved tree, not the unsaved edit.
    page.goto(live_server.url + f"/segments/{segment.pk}/")
    page.get_by_role("button", name="Duplicate").click()
    expect(page.get_by_label("Name")).to_have_value("Copy of Shoe fans adding to cart")
    expect(page.locator("#n-1-0-where-0-value")).to_have_value("Shoes")
    expect(page.locator("#node-n-1-negate")).not_to_be_checked()
    expect(count).to_have_text("2")
