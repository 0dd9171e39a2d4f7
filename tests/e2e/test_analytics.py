"""A marketer in a real browser: the dashboard's charts on a demo store's traffic, the
funnel answering a change of period and of source in place, and the RFM grid's named groups
and a cell saved as a segment."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from playwright.sync_api import Page, expect

from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.models import Event, Source
from ingestion.rollups import event_hours_refresh
from profiles.computed import profiles_rfm_refresh
from profiles.models import Profile
from segments.membership import segment_refresh
from segments.models import Segment
from tests.analytics.conftest import send
from tests.e2e.test_sources import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", "m@example.com", "s3cret-pass")


@pytest.fixture
def demo_store(live_server) -> Source:
    """A few days of the demo store's shoppers, through the ingest API, processed, and the
    rollup folded in up to now (beat's job)."""
    source = services.source_create(actor=Actor.system("test"), name="Demo store")
    call_command(
        "simulate_store", "--url", live_server.url, "--shoppers", "40", "--days", "20",
        stdout=StringIO(),
    )  # fmt: skip
    ids = list(Event.objects.values_list("pk", flat=True))
    for start in range(0, len(ids), 500):
        services.events_process(event_ids=ids[start : start + 500])
    # Everything is older than the rollup's grace once it is told "now" is later.
    event_hours_refresh(now=datetime.now(UTC) + timedelta(minutes=5))
    profiles_rfm_refresh()
    return source


def test_dashboard_draws_its_charts_on_a_demo_store(page: Page, live_server, marketer, demo_store):
    in_30_days = Event.objects.filter(timestamp__gte=datetime.now(UTC) - timedelta(days=29))
    assert in_30_days.exists()
    log_in(page, live_server.url)
    hourly = page.locator("#events-hourly svg.bar-chart")
    daily = page.locator("#events-daily svg.bar-chart")
    expect(hourly).to_be_visible()
    expect(daily).to_be_visible()
    # One bar per hour and per day, each titled with its numbers (what a hover shows).
    expect(hourly.locator("g.bar")).to_have_count(24)
    expect(daily.locator("g.bar")).to_have_count(30)
    titles = daily.locator("g.bar > title").all_text_contents()
    counted = sum(
        int(re.match(r".*?: ([\d,]+) events", t).group(1).replace(",", "")) for t in titles
    )
    assert counted > 0 and any("Demo store" in t for t in titles)
    # Bars are drawn for the busy days.
    assert daily.locator("rect.series-0").count() > 3
    expect(page.locator("#events-daily .legend")).to_contain_text("Demo store")
    # The numbers are one click away too.
    numbers = page.locator("#events-daily details")
    numbers.get_by_text("The numbers").click()
    expect(numbers.locator("tbody tr")).to_have_count(30)
    top = page.locator("#top-activities tbody tr")
    expect(top.first).to_be_visible()
    expect(page.locator("#top-activities")).to_contain_text("Product Viewed")
    expect(page.locator("#orders .figure")).not_to_have_text(re.compile(r"^0\b"))
    expect(page.locator("#backlog")).to_contain_text("events waiting")

    # At 1440 px each chart fills its card's width (it filled two thirds), the sparklines too.
    page.set_viewport_size({"width": 1440, "height": 900})
    for card in ("#events-hourly", "#events-daily"):
        inner = page.evaluate(
            "s => { const c = document.querySelector(s); const st = getComputedStyle(c);"
            " return c.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight); }",
            card,
        )
        chart = page.locator(f"{card} svg.bar-chart").bounding_box()
        assert chart is not None and chart["width"] >= inner - 2, (card, chart, inner)
    spark = page.locator("#orders svg.sparkline").bounding_box()
    card_box = page.locator("#orders").bounding_box()
    assert spark is not None and card_box is not None and spark["width"] > card_box["width"] * 0.85
    # On a phone a chart keeps a readable size and scrolls inside its card, not the page.
    page.set_viewport_size({"width": 390, "height": 844})
    chart = page.locator("#events-daily svg.bar-chart").bounding_box()
    assert chart is not None and chart["width"] >= 700
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


@pytest.fixture
def funnel_store(db) -> dict[str, Source]:
    """Ada goes all the way on the web two days ago; Cy viewed on the web 20 days ago; Dee
    viewed and added in the app yesterday."""
    now = datetime.now(UTC)
    web = services.source_create(actor=Actor.system("test"), name="Web", kind=Source.Kind.WEB)
    app = services.source_create(actor=Actor.system("test"), name="App", kind=Source.Kind.MOBILE)

    def event(user: str, name: str, ago: timedelta, **properties) -> dict:
        return {
            "type": "track", "userId": user, "event": name, "properties": properties,
            "timestamp": (now - ago).isoformat(),
        }  # fmt: skip

    two_days = timedelta(days=2)
    send(
        Client(),
        web,
        [
            event("ada", "Product Viewed", two_days),
            event("ada", "Product Added", two_days - timedelta(minutes=5)),
            event("ada", "Checkout Started", two_days - timedelta(minutes=10)),
            event("ada", "Order Completed", two_days - timedelta(minutes=15), order_id="E-1"),
            event("cy", "Product Viewed", timedelta(days=20)),
        ],
    )
    send(
        Client(),
        app,
        [
            event("dee", "Product Viewed", timedelta(days=1)),
            event("dee", "Product Added", timedelta(days=1) - timedelta(minutes=3)),
        ],
    )
    services.events_process(event_ids=list(Event.objects.values_list("pk", flat=True)))
    return {"web": web, "app": app}


def step_people(page: Page) -> list[str]:
    return page.locator("#funnel-steps td.people").all_text_contents()


def test_funnel_follows_the_period_and_the_source(page: Page, live_server, marketer, funnel_store):
    log_in(page, live_server.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", name="Analytics")).to_be_visible()
    expect(page.locator("#funnel-steps td.people")).to_have_text(["3", "2", "1", "1"])
    # A marker on the page survives the changes: the results are swapped in place (htmx).
    page.evaluate("window.stillHere = true")

    page.get_by_label("Period").select_option("7")
    expect(page.locator("#funnel-steps td.people")).to_have_text(["2", "2", "1", "1"])
    expect(page).to_have_url(re.compile(r"days=7"))
    expect(page.locator("#funnel-scope")).to_contain_text("every source")

    page.get_by_label("Source").select_option(label="App")
    expect(page.locator("#funnel-steps td.people")).to_have_text(["1", "1", "0", "0"])
    expect(page.locator("#funnel-scope")).to_contain_text("events from App")
    bar = page.locator("svg.bar-chart g.bar > title").first
    expect(bar).to_have_text(re.compile(r"^Viewed a product: 1 people"))
    assert page.evaluate("window.stillHere") is True

    page.get_by_label("Source").select_option(label="Web")
    expect(page.locator("#funnel-steps td.people")).to_have_text(["1", "1", "1", "1"])
    # The CSV link carries the same choices.
    href = page.get_by_role("link", name="Download CSV").get_attribute("href")
    assert "days=7" in href and f"source={funnel_store['web'].pk}" in href


@pytest.fixture
def scored_shoppers(db) -> None:
    """Ten customers scored: seven with one order, then 2, 3 and 4 orders, a day apart."""
    now = datetime.now(UTC)
    for i, count in enumerate([1, 1, 1, 1, 1, 1, 1, 2, 3, 4]):
        Profile.objects.create(
            user_id=f"user-{i}",
            name=f"Shopper {i}",
            orders_count=count,
            revenue=Decimal(10 * (i + 1)),
            last_order_at=now - timedelta(days=10 - i),
        )
    assert profiles_rfm_refresh() == 10


def test_rfm_names_its_groups_and_saves_a_cell_as_a_segment(
    page: Page, live_server, marketer, scored_shoppers
):
    log_in(page, live_server.url)
    page.goto(live_server.url + "/analytics/rfm/")
    grid = page.locator("#rfm-grid")
    champions = grid.locator('td[data-cell="55"]')
    expect(champions).to_contain_text("Champions")
    expect(grid.locator('td[data-cell="11"]')).to_contain_text("Lost")
    groups = page.locator("#rfm-groups")
    expect(groups.locator('tr[data-group="cant-lose"]')).to_contain_text("R 1-2, F 5")
    # Frequency ties on one order: the empty columns say why.
    expect(page.locator('#rfm-empty li[data-empty="F2"]')).to_contain_text("70% of them")
    # On a phone the grid and the groups scroll inside themselves; the page keeps its width.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1440, "height": 900})
    in_cell = int(champions.get_by_role("link").inner_text())
    assert in_cell > 0
    champions.get_by_role("button", name="Save R 5, F 5 as a segment").click()
    expect(page.get_by_role("heading", name="RFM cell R 5, F 5")).to_be_visible()
    segment = Segment.objects.get()
    assert page.url == f"{live_server.url}/segments/{segment.pk}/"
    segment_refresh(segment)
    assert segment.memberships.count() == in_cell
    # A named group too.
    page.goto(live_server.url + "/analytics/rfm/")
    page.get_by_role("button", name="Save Lost as a segment").click()
    expect(page.get_by_role("heading", name="RFM: Lost")).to_be_visible()


def test_marketer_chooses_funnel_steps_sees_time_to_convert_and_saves(
    page: Page, live_server, marketer, funnel_store
):
    log_in(page, live_server.url)
    page.goto(live_server.url + "/analytics/funnel/")
    people = page.locator("#funnel-steps td.people")
    expect(people).to_have_text(["3", "2", "1", "1"])  # the commerce funnel
    # Viewed a product, then ordered: two steps instead of four.
    # Each step's activity is searched and chosen from the keyboard; an emptied box drops it.
    for label, typed in (("Step 1", "product viewed"), ("Step 2", "order comp")):
        step = page.get_by_role("combobox", name=label, exact=True)
        step.click()
        step.fill(typed)
        step.press("Enter")
    expect(page.locator("#s0")).to_have_value("track:Product Viewed")
    expect(page.locator("#s1")).to_have_value("track:Order Completed")
    for label in ("Step 3", "Step 4"):
        step = page.get_by_role("combobox", name=label, exact=True)
        step.fill("")
        step.press("Enter")
    expect(page.locator("#s3")).to_have_value("")
    expect(people).to_have_text(["3", "1"])  # Ada, Cy and Dee viewed; Ada ordered
    expect(page.locator("#funnel-steps td.time-to-convert")).to_have_text(["—", "15 min"])
    # A filter on the order narrows the second step.
    page.get_by_label("Step 2: property to filter on").fill("order_id")
    page.get_by_label("Step 2: value").fill("E-2")
    page.get_by_label("Step 2: value").press("Tab")
    expect(people).to_have_text(["3", "0"])
    page.get_by_label("Step 2: value").fill("E-1")
    page.get_by_label("Step 2: value").press("Tab")
    expect(people).to_have_text(["3", "1"])

    page.get_by_label("Save these steps as").fill("View to order")
    page.get_by_role("button", name="Save funnel").click()
    expect(page.get_by_role("status")).to_contain_text("Funnel “View to order” saved.")
    saved = page.get_by_role("navigation", name="Saved funnels").get_by_role(
        "link", name="View to order"
    )
    expect(saved).to_have_attribute("aria-current", "page")
    expect(people).to_have_text(["3", "1"])
    expect(page.get_by_label("Step 2: value")).to_have_value("E-1")

    # Back to the commerce funnel, and the saved one a click away.
    page.get_by_role("link", name="Back to the commerce funnel").click()
    expect(people).to_have_text(["3", "2", "1", "1"])
    page.get_by_role("link", name="View to order").click()
    expect(people).to_have_text(["3", "1"])
    # On a phone the steps editor fits the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
