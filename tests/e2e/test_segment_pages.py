"""A marketer in a real browser: open the segment list, a segment's page, press "Refresh now",
see its size and members, and follow a member to their profile and to why they are in."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from profiles.models import Profile
from segments.models import Segment
from tests.e2e.test_sources import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", "m@example.com", "s3cret-pass")


@pytest.fixture
def repeat_buyers(db) -> Segment:
    """Ada ordered three times, Bob once; the segment was saved and never refreshed."""
    Profile.objects.create(user_id="user-ada", email="ada@example.com", name="Ada", orders_count=3)
    Profile.objects.create(user_id="user-bob", email="bob@example.com", name="Bob", orders_count=1)
    definition = {
        "kind": "group",
        "match": "all",
        "negate": False,
        "conditions": [
            {
                "kind": "attribute",
                "negate": False,
                "scope": "computed",
                "path": "orders_count",
                "operator": "gte",
                "value": 2,
            }
        ],
    }
    return Segment.objects.create(
        name="Repeat buyers",
        definition=definition,
        sentence="People whose Orders is at least 2",
    )


def test_marketer_refreshes_a_segment_and_sees_its_members(
    page: Page, live_server, marketer, repeat_buyers
):
    log_in(page, live_server.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Segments").click()
    expect(page.get_by_role("heading", name="Segments", exact=True)).to_be_visible()
    row = page.locator(f"#segment-{repeat_buyers.pk}")
    expect(row).to_contain_text("People whose Orders is at least 2")
    expect(row).to_contain_text("Not yet")

    row.get_by_role("link", name="Repeat buyers").click()
    expect(page.get_by_role("heading", name="Repeat buyers")).to_be_visible()
    expect(page.locator("#segment-size")).to_have_text("—")
    expect(page.locator("#members")).to_contain_text("Members appear after the first refresh")

    # The title's buttons stand apart from the cards below, wide or narrow.
    for width in (1280, 600):
        page.set_viewport_size({"width": width, "height": 900})
        buttons = page.locator(".page-head .actions").bounding_box()
        cards = page.locator(".segment-stats").bounding_box()
        assert cards["y"] - (buttons["y"] + buttons["height"]) >= 12, (width, buttons, cards)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator(".messages")).to_contain_text(re.compile(r"1 person, 1 entered and 0 left"))
    expect(page.locator("#segment-size")).to_have_text("1")
    members = page.locator("#members")
    expect(members.get_by_role("link", name="Ada")).to_be_visible()
    expect(members).not_to_contain_text("Bob")
    expect(page.locator("svg.size-chart")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Refreshed .+ in [\d,]+ ms"))).to_be_visible()

    # Back on the list, the size and the freshness show.
    page.get_by_role("link", name="Segments").first.click()
    expect(row.locator("td.num").first).to_have_text("1")
    expect(row.locator("time")).to_be_visible()

    # A member's profile says which segments they are in, and why.
    row.get_by_role("link", name="Repeat buyers").click()
    page.locator("#members").get_by_role("link", name="Ada").click()
    # The profile page folds its segments below the timeline: unfold them.
    page.locator("summary", has_text="Segments").click()
    section = page.locator("#segments")
    expect(section).to_contain_text("Repeat buyers")
    expect(section).to_contain_text("since")
    section.get_by_role("link", name="Why?").click()
    expect(page.get_by_role("heading", name=re.compile("Why is Ada in"))).to_be_visible()
    expect(page.locator(".why-node.met").first).to_contain_text("Orders: 3")
