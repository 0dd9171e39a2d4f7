"""A marketer in a real browser: log in, open a source, watch events arrive live."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import Page, expect
from segment.analytics.client import Client as SegmentClient

from cdp_project.access.actors import Actor
from cdp_project.heartbeats import SCHEDULER, WORKER, heartbeat_record
from ingestion import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", "m@example.com", "s3cret-pass")


def log_in(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    expect(page).to_have_url(base_url + "/accounts/login/?next=/")
    page.get_by_label("Username").fill("marketer")
    page.get_by_label("Password").fill("s3cret-pass")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_wrong_password_is_refused(page: Page, live_server, marketer):
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill("marketer")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")


def test_debugger_shows_events_sent_by_the_sdk_as_they_arrive(page: Page, live_server, marketer):
    source = services.source_create(actor=Actor.system("test"), name="Demo store")
    key = source.write_keys.get().key
    log_in(page, live_server.url)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sources").click()
    page.get_by_role("link", name="Demo store").click()
    expect(page.get_by_role("heading", name="Live debugger")).to_be_visible()
    expect(page.locator("#event-rows details")).to_have_count(0)

    client = SegmentClient(key, host=live_server.url, sync_mode=True, max_retries=0)
    client.identify("user-42", {"email": "ada@example.com"})
    client.track(
        "user-42",
        "Order Completed",
        {"order_id": "O-1", "products": [{"sku": "SHOE-1", "price": 89.9}]},
    )
    client.page("user-42", name="Shoes", properties={"url": "/shoes"})

    rows = page.locator("#event-rows details")
    expect(rows).to_have_count(3, timeout=10_000)
    order = rows.filter(has_text="Order Completed")
    expect(order).to_contain_text("user-42")
    order.locator("summary").click()
    expect(order).to_contain_text('"sku": "SHOE-1"')

    # A refused event shows with its reason, and the opened row stays open through polls.
    requests.post(
        live_server.url + "/v1/track", json={"event": "No identity"}, auth=(key, ""), timeout=10
    )
    refusals = page.locator("#refusal-rows details")
    expect(refusals).to_have_count(1, timeout=10_000)
    expect(refusals.first).to_contain_text("missing_identity")
    expect(order).to_have_attribute("open", "")


def test_marketer_creates_a_source_and_rotates_its_key(page: Page, live_server, marketer):
    log_in(page, live_server.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sources").click()
    page.get_by_label("Name").fill("Mobile app")
    page.get_by_label("Kind").select_option("mobile")
    page.get_by_role("button", name="Create source").click()

    expect(page.get_by_role("heading", name="Mobile app")).to_be_visible()
    first_key = page.locator("code.key").first.inner_text()
    page.get_by_label("New key label").fill("2026")
    page.get_by_role("button", name="Create a new key").click()
    expect(page.locator("code.key")).to_have_count(2)

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr", has_text=first_key).get_by_role("button", name="Revoke").click()
    expect(page.locator("tr", has_text=first_key)).to_contain_text("Revoked")


def test_debugger_says_when_processing_stops_and_when_it_runs_again(
    page: Page, live_server, marketer
):
    source = services.source_create(actor=Actor.system("test"), name="Demo store")
    long_ago = timezone.now() - timedelta(minutes=5)
    heartbeat_record(name=SCHEDULER, now=long_ago)
    heartbeat_record(name=WORKER, now=long_ago)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/sources/{source.pk}/debugger/")
    state = page.locator("#stack-state")
    expect(state).to_contain_text("The scheduler (Celery beat) was last seen 5 min ago")
    expect(state).to_contain_text("new events are stored and wait for it (nothing is lost)")

    heartbeat_record(name=SCHEDULER)
    heartbeat_record(name=WORKER)
    # The next poll (every 2 s) swaps the state in.
    expect(state).to_contain_text("Processing is running", timeout=10_000)
    expect(state).not_to_contain_text("last seen")


def test_a_web_source_shows_the_lines_a_segment_site_changes_each_with_a_copy_button(
    page: Page, live_server, django_user_model
):
    django_user_model.objects.create_superuser("marketer", "m@example.com", "s3cret-pass")
    source = services.source_create(actor=Actor.system("test"), name="Web shop", kind="web")
    key = source.write_keys.get().key
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/sources/{source.pk}/")

    section = page.locator("details", has_text="Already use Segment? Change only these")
    expect(section).to_have_attribute("open", "")
    cdn_line = f'analytics._cdn="{live_server.url}";'
    expect(section).to_contain_text(cdn_line)
    expect(section).to_contain_text(
        f'{live_server.url}/analytics.js/v1/" + key + "/analytics.min.js'
    )
    expect(section).to_contain_text(f'cdnURL: "{live_server.url}"')
    expect(section).to_contain_text(f'rudderanalytics.load("{key}", "{live_server.url}"')

    # By keyboard: the copy button of the `_cdn` line copies that line and says so.
    copy = section.get_by_role("button", name="Copy").nth(1)
    copy.focus()
    page.keyboard.press("Enter")
    expect(page.locator("[data-copy-status]")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == cdn_line

    # The write key and the ingest URL have their own buttons.
    page.locator("[data-copy-status]").evaluate("status => { status.textContent = ''; }")
    page.locator(f'button[data-copy="key-{source.write_keys.get().pk}"]').click()
    expect(page.locator("[data-copy-status]")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == key
    page.locator("[data-copy-status]").evaluate("status => { status.textContent = ''; }")
    page.get_by_role("button", name="Copy the ingest URL").click()
    expect(page.locator("[data-copy-status]")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == live_server.url


def test_debugger_search_filter_pause_and_raw_view(page: Page, live_server, marketer):
    source = services.source_create(actor=Actor.system("test"), name="Demo store")
    key = source.write_keys.get().key

    def send(path: str, body: dict) -> None:
        requests.post(f"{live_server.url}/v1/{path}", json=body, auth=(key, ""), timeout=10)

    send("track", {"userId": "ada-1", "event": "Order Completed", "properties": {"z": 1, "a": 2}})
    send("track", {"userId": "bob", "event": "Cart Viewed"})
    send("page", {"userId": "ada-1", "name": "Shoes"})
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/sources/{source.pk}/debugger/")
    rows = page.locator("#event-rows details")
    expect(rows).to_have_count(3)

    # Search by a user id's start, then keep only page calls.
    page.get_by_role("searchbox", name="Search").fill("ada")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(2)
    expect(page.locator("#event-rows")).not_to_contain_text("Cart Viewed")
    page.get_by_label("Type").select_option("track")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(page.get_by_text("Refusals have no type")).to_be_visible()

    # An opened row stays open while a new matching event arrives; others never show.
    order = rows.filter(has_text="Order Completed")
    order.locator("summary").click()
    expect(order).to_have_attribute("open", "")
    send("track", {"userId": "ada-2", "event": "Product Viewed"})
    send("track", {"userId": "carl", "event": "Product Viewed"})
    expect(rows).to_have_count(2, timeout=10_000)
    expect(page.locator("#event-rows")).not_to_contain_text("carl")
    expect(order).to_have_attribute("open", "")

    # The person behind a row is one click away.
    expect(order.get_by_role("link", name="Person")).to_have_attribute(
        "href", re.compile(r"/profiles/\d+/$")
    )

    # Raw: the whole message on one wrapped line, keys as stored.
    raw = order.locator("pre.raw")
    expect(raw).to_be_hidden()
    page.get_by_role("button", name="Show raw").click()
    expect(raw).to_be_visible()
    expect(raw).to_contain_text('"userId":"ada-1"')
    expect(order.locator(".pretty")).to_be_hidden()
    page.get_by_role("button", name="Show pretty").click()
    expect(order.locator(".pretty")).to_be_visible()

    # Paused by keyboard: new events wait, through the polls; resumed, they come.
    pause = page.get_by_role("button", name="Pause")
    pause.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="Paused")).to_be_visible()
    page.wait_for_timeout(2_500)  # a poll already on its way may still land
    shown = rows.count()
    send("track", {"userId": "ada-3", "event": "While paused"})
    page.wait_for_timeout(4_500)
    expect(rows).to_have_count(shown)
    page.get_by_role("button", name="Resume").click()
    expect(rows.filter(has_text="While paused")).to_have_count(1, timeout=10_000)
    expect(order).to_have_attribute("open", "")

    # Accepted or refused: a refused event of another search shows once asked for.
    send("track", {"anonymousId": "x", "messageId": "m-bad"})
    page.goto(f"{live_server.url}/sources/{source.pk}/debugger/?q=m-bad&status=refused")
    expect(page.locator("#refusal-rows details")).to_have_count(1)
    expect(page.locator("#event-rows")).to_have_count(0)
