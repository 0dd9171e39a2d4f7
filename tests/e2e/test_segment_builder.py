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


def choose(page: Page, select_id: str, typed: str, option: str) -> None:
    """Search a builder picker and click the option (the select behind it gets the value)."""
    box = page.locator(f"#{select_id}-search")
    box.click()
    box.fill(typed)
    page.locator(f"#{select_id}-options").get_by_role("option", name=option).first.click()
    expect(box).to_have_value(option)


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
    # The activity picker is searched from the keyboard: type, the first match is active.
    picker = page.get_by_role("combobox", name="Activity")
    expect(picker).to_have_attribute("aria-expanded", "false")
    picker.click()
    expect(picker).to_have_attribute("aria-expanded", "true")
    picker.press_sequentially("product add", delay=20)
    options = page.locator("#node-n-0-activity-options").get_by_role("option")
    expect(options.first).to_contain_text("Product Added")
    expect(picker).to_have_attribute("aria-activedescendant", "node-n-0-activity-options-0")
    picker.press("Enter")
    expect(page.locator("#node-n-0-activity")).to_have_value("track:Product Added")
    expect(count).to_have_text("2")
    # The builder is redrawn with the choice; the picker keeps the focus and shows it.
    picker = page.locator("#node-n-0-activity-search")
    expect(picker).to_be_focused()
    expect(picker).to_have_value("Product Added")

    # …and any of: Order Completed with a pair of shoes among its products, or an attribute.
    page.locator("#node-n > .add").get_by_role("button", name="+ Group").click()
    expect(page.locator("#node-n-1-match")).to_have_value("any")
    choose(page, "node-n-1-0-activity", "order comp", "Order Completed")
    expect(count).to_have_text("1")  # Ada ordered 5 days ago; Gus never did
    page.locator("#node-n-1-0-window-type").select_option("ever")
    expect(page.locator("#node-n-1-0-window-amount")).to_have_count(0)  # redrawn
    page.locator("#node-n-1-0").get_by_role("button", name="+ Property filter").click()
    choose(page, "n-1-0-where-0-path", "categ", "products[].category")
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


def test_marketer_picks_several_values_as_chips_and_sees_who_email_reaches(
    page: Page, live_server, marketer, store
):
    def bought(*categories: str) -> set[str]:
        filters = [where("products[].category", "one_of", list(categories))]
        return store.members(group(did("Order Completed", window=EVER, filters=filters)))

    log_in(page, live_server.url)
    page.goto(live_server.url + "/segments/new/")
    count = page.locator("#preview-count")
    reach = page.locator("#preview-email-reach")
    # Everyone, and of them those with email consent and an address (Ada, the only one).
    expect(count).to_have_text(str(len(store.people)))
    expect(reach).to_have_text("1")
    page.get_by_label("Name").fill("Bags or hats")
    page.locator("#node-n > .add").get_by_role("button", name="+ Condition").click()
    choose(page, "node-n-0-activity", "order", "Order Completed")
    page.locator("#node-n-0-window-type").select_option("ever")
    expect(page.locator("#node-n-0-window-amount")).to_have_count(0)  # redrawn
    page.locator("#node-n-0").get_by_role("button", name="+ Property filter").click()
    choose(page, "n-0-where-0-path", "products[].cat", "products[].category")
    page.locator("#n-0-where-0-operator").select_option("one_of")

    # The value box suggests the catalog's values; Enter adds the active one as a chip.
    values = page.get_by_role("combobox", name="Add a value")
    values.click()
    suggestions = page.locator("#n-0-where-0-value-options").get_by_role("option")
    expect(suggestions.filter(has_text="Bags")).to_have_count(1)
    values.press_sequentially("bag", delay=20)
    expect(suggestions).to_have_count(1)
    values.press("Enter")
    chips = page.locator("#n-0-where-0-chosen .chip")
    expect(chips).to_have_text(["Bags\u00d7"])
    expect(count).to_have_text(str(len(bought("Bags"))))
    expect(values).to_be_focused()
    expect(values).to_have_value("")
    # The second value gets suggestions too (the chosen one is no longer offered).
    expect(suggestions.filter(has_text="Bags")).to_have_count(0)
    suggestions.filter(has_text="Hats").click()
    expect(chips).to_have_count(2)
    expect(count).to_have_text(str(len(bought("Bags", "Hats"))))
    # Each suggestion shows whole, never clipped.
    values.fill("")
    values.press("ArrowDown")
    for option in suggestions.all():
        assert option.evaluate("o => o.scrollWidth <= o.clientWidth")
    values.press("Escape")
    expect(values).to_have_attribute("aria-expanded", "false")

    # A chip is removed from the keyboard, and the count follows.
    remove = page.get_by_role("button", name="Remove Bags")
    remove.focus()
    page.keyboard.press("Enter")
    expect(chips).to_have_count(1)
    expect(count).to_have_text(str(len(bought("Hats"))))
    expect(reach).to_have_text("0")  # Cleo, who bought a hat, gave no email consent

    page.get_by_role("button", name="Save segment").click()
    segment = Segment.objects.get(name="Bags or hats")
    where_ = segment.definition["conditions"][0]["where"][0]
    assert where_["operator"] == "one_of" and where_["value"] == ["Hats"]
    page.goto(live_server.url + f"/segments/{segment.pk}/edit/")
    expect(page.locator("#n-0-where-0-chosen .chip")).to_have_text(["Hats\u00d7"])


@pytest.mark.parametrize("width", [1440, 390])
def test_builder_pickers_fit_the_screen(page: Page, live_server, marketer, store, width):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url)
    page.goto(live_server.url + "/segments/new/")
    page.locator("#node-n > .add").get_by_role("button", name="+ Condition").click()
    box = page.get_by_role("combobox", name="Activity")
    box.click()
    listbox = page.locator("#node-n-0-activity-options")
    expect(listbox).to_be_visible()
    found = listbox.bounding_box()
    assert found is not None and found["x"] >= 0 and found["x"] + found["width"] <= width
    assert page.evaluate("document.documentElement.scrollWidth") <= width
