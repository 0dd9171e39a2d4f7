"""What every page's header offers a marketer in a real browser: the Outbox in the
navigation, a one-row header behind a keyboard-usable menu button on a phone, and a way back
from the API docs into the app."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_sources import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", "m@example.com", "s3cret-pass")


def test_the_outbox_is_in_the_navigation(page: Page, live_server, marketer):
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, live_server.url)
    nav = page.get_by_role("navigation", name="Main")
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()  # wide: no menu button
    nav.get_by_role("link", name="Outbox").click()
    expect(page.get_by_role("heading", name="Outbox", level=1)).to_be_visible()
    expect(nav.get_by_role("link", name="Outbox")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("link", name="Campaigns")).not_to_have_attribute("aria-current", "page")
    nav.get_by_role("link", name="Campaigns").click()
    expect(nav.get_by_role("link", name="Campaigns")).to_have_attribute("aria-current", "page")


def test_on_a_phone_the_header_is_one_row_behind_a_menu_button(page: Page, live_server, marketer):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url)
    # Once menu.js has folded the menu (without it, the menu simply stays open).
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_be_hidden()
    # Its styles may still be on their way on a busy machine: the header settles to one row.
    page.wait_for_load_state("load")
    page.wait_for_function(
        "document.querySelector('header.topbar').getBoundingClientRect().height <= 64",
        timeout=10_000,
    )
    box = page.locator("header.topbar").bounding_box()
    assert box is not None and box["height"] <= 64, box

    # From the keyboard: Tab to the button, Enter opens, Escape closes and keeps the focus.
    page.keyboard.press("Tab")  # the brand link
    page.keyboard.press("Tab")
    expect(menu).to_be_focused()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_be_visible()
    page.keyboard.press("Tab")
    expect(nav.get_by_role("link", name="Dashboard")).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_focused()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()

    # Space opens it too, and a link in it leads on.
    page.keyboard.press("Space")
    nav.get_by_role("link", name="Outbox").click()
    expect(page.get_by_role("heading", name="Outbox", level=1)).to_be_visible()
    box = page.locator("header.topbar").bounding_box()
    assert box is not None and box["height"] <= 64, box  # collapsed again on the new page


def test_the_api_docs_lead_back_to_the_app(page: Page, live_server, marketer):
    log_in(page, live_server.url)
    page.get_by_role("link", name="API docs").click()
    expect(page.get_by_text("/v1/track").first).to_be_visible(timeout=10_000)
    page.get_by_role("link", name="Reference (ReDoc)").click()
    expect(page).to_have_url(re.compile(r"/api/redoc/$"))
    page.get_by_role("link", name="Back to CDP").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
