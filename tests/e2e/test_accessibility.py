"""Every page a marketer reaches, checked by axe-core against WCAG 2.1 A and AA, wide (1440 px)
and narrow (390 px), on a demo store's data: no violation is allowed.

axe-core is installed with npm at test time into tests/sdks/axe (never committed), as the
browser SDKs are for tests/e2e/test_browser_sdks.py. It needs Node.js and npm: without them
these tests skip with the reason, unless CDP_REQUIRE_NODE=1 (set by .ci/run)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from campaigns.engine import campaigns_run_due, unsubscribe_token
from campaigns.journeys.services import journey_create, journey_publish
from campaigns.models import Campaign, Enrollment, JourneyVersion, Message
from campaigns.services import campaign_test_send
from cdp_project.access.actors import Actor
from cdp_project.devtools.benchmarks import JOURNEY_DEFINITION
from cdp_project.devtools.demo_examples import demo_campaigns_activate, demo_segments_create
from ingestion import services
from ingestion.models import Activity, ActivityProperty, Event
from ingestion.rollups import event_hours_refresh
from profiles.computed import profiles_rfm_refresh
from profiles.models import Profile
from segments.models import Segment
from tests.npm import npm_installed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE_DIR = Path(__file__).resolve().parents[1] / "sdks" / "axe"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS = (1440, 390)
SYSTEM = Actor.system("test")


@pytest.fixture(scope="session")
def axe_script() -> Path:
    npm_installed(
        AXE_DIR, installed=AXE_SCRIPT, needed_for="installing axe-core for the accessibility tests"
    )
    return AXE_SCRIPT


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """The app's Content-Security-Policy refuses scripts it did not serve; axe is added by
    the test, so the policy is set aside for it (the pages are the same)."""
    return {**browser_context_args, "bypass_csp": True}


@pytest.fixture
def marketer(django_user_model):
    # Staff, as whoever reads the audit log in the admin is.
    return django_user_model.objects.create_user(
        "marketer", "m@example.com", "s3cret-pass", is_staff=True, is_superuser=True
    )


@pytest.fixture
def demo_data(live_server) -> dict[str, str]:
    """A short demo store's traffic, processed, with the example segments and the built-in
    campaigns active, a test message in the Outbox; the pages' addresses."""
    source = services.source_create(actor=SYSTEM, name="Demo store")
    # A journey the store's shoppers enter as their events are processed.
    journey = Campaign.objects.create(
        name="Shoes in the cart", kind=Campaign.Kind.JOURNEY, status=Campaign.Status.ACTIVE
    )
    journey.version = JourneyVersion.objects.create(
        campaign=journey, number=1, definition=JOURNEY_DEFINITION
    )
    journey.save(update_fields=["version"])
    call_command(
        "simulate_store", "--url", live_server.url, "--shoppers", "12", "--days", "5",
        stdout=StringIO(),
    )  # fmt: skip
    ids = list(Event.objects.values_list("pk", flat=True))
    for start in range(0, len(ids), 500):
        services.events_process(event_ids=ids[start : start + 500])
    event_hours_refresh(now=datetime.now(UTC) + timedelta(minutes=5))
    profiles_rfm_refresh()
    campaigns_run_due()
    demo_segments_create()
    demo_campaigns_activate()
    entered = Enrollment.objects.filter(campaign=journey).order_by("pk").first()
    assert entered is not None
    profile = Profile.objects.exclude(email="").order_by("pk").first() or Profile.objects.first()
    assert profile is not None
    campaign = Campaign.objects.order_by("pk").first()
    assert campaign is not None
    message = campaign_test_send(
        actor=SYSTEM, campaign=campaign, profile=profile, address="me@shop.example"
    )
    # A message as the engine sends it: its unsubscribe link leads to the person.
    sent = Message.objects.get(pk=message.pk)
    sent.pk, sent.profile, sent.idempotency_key = None, profile, uuid.uuid4().hex
    sent.save()
    segment = Segment.objects.order_by("pk").first()
    assert segment is not None
    activity = Activity.objects.order_by("pk").first()
    assert activity is not None
    # A field the catalog suggests marking personal: its row offers the two answers.
    ActivityProperty.objects.filter(pk=activity.properties.order_by("pk").values("pk")[:1]).update(
        personal_suggested="street_address"
    )
    built = journey_create(actor=SYSTEM, name="Shoes", template="browse_cart_order")
    journey_publish(actor=SYSTEM, campaign=built)
    editor = f"/campaigns/{built.pk}/journey/"
    return {
        "dashboard": "/",
        "sources": "/sources/",
        "source": f"/sources/{source.pk}/",
        "debugger": f"/sources/{source.pk}/debugger/",
        "activities": "/activities/",
        "activity": f"/activities/{activity.pk}/",
        "attributes": "/activities/attributes/",
        "products": "/activities/products/",
        "profiles": "/profiles/",
        "profile": f"/profiles/{profile.pk}/",
        "profile import": "/profiles/import/",
        "segments": "/segments/",
        "segment": f"/segments/{segment.pk}/",
        "segment why": f"/segments/{segment.pk}/why/{profile.pk}/",
        "segment builder": "/segments/new/",
        "segment edit": f"/segments/{segment.pk}/edit/",
        "campaigns": "/campaigns/",
        "campaign": f"/campaigns/{campaign.pk}/",
        "campaign edit": f"/campaigns/{campaign.pk}/edit/",
        "journey": f"/campaigns/{journey.pk}/",
        "enrollments": f"/campaigns/{journey.pk}/enrollments/",
        "profile in a journey": f"/profiles/{entered.profile_id}/",
        "journey trigger": editor + "?edit=trigger",
        "journey split": editor + "?edit=opted_in",
        "journey send": editor + "?edit=cart",
        "journey wait for": editor + "?edit=wait_order",
        "outbox": "/campaigns/outbox/",
        "message": f"/campaigns/outbox/{message.pk}/",
        "funnel": "/analytics/funnel/",
        "funnel of chosen steps": (
            "/analytics/funnel/?s0=track%3AProduct+Viewed&s1=track%3AOrder+Completed"
            "&s1_path=total&s1_op=gte&s1_value=1"
        ),
        "retention": "/analytics/retention/",
        "rfm": "/analytics/rfm/",
        "audit log": "/admin/access/auditentry/",
        "unsubscribe": f"/campaigns/unsubscribe/{unsubscribe_token(sent.idempotency_key)}/",
    }


PAGES = [
    "login",
    "dashboard",
    "sources",
    "source",
    "debugger",
    "activities",
    "activity",
    "attributes",
    "products",
    "profiles",
    "profile",
    "profile import",
    "segments",
    "segment",
    "segment why",
    "segment builder",
    "segment edit",
    "campaigns",
    "campaign",
    "campaign edit",
    "journey",
    "enrollments",
    "profile in a journey",
    "journey trigger",
    "journey split",
    "journey send",
    "journey wait for",
    "outbox",
    "message",
    "funnel",
    "funnel of chosen steps",
    "retention",
    "rfm",
    "audit log",
    "unsubscribe",
]


def axe_violations(page: Page, script: Path) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(script))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_AA
    )
    return result["violations"]


def readable(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:8]:
            lines.append(f"    {' '.join(node['target'])}: {node['html'][:160]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"      {summary[:300]}")
        if len(violation["nodes"]) > 8:
            lines.append(f"    … and {len(violation['nodes']) - 8} more")
    return "\n".join(lines)


def log_in(page: Page, base_url: str) -> None:
    page.goto(base_url + "/accounts/login/")
    page.get_by_label("Username").fill("marketer")
    page.get_by_label("Password").fill("s3cret-pass")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


@pytest.mark.parametrize("name", PAGES)
def test_page_has_no_wcag_21_aa_violations(
    page: Page, live_server, axe_script, marketer, demo_data, name
):
    if name == "login":
        url = "/accounts/login/"
    else:
        log_in(page, live_server.url)
        url = demo_data[name]
    found = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        response = page.goto(live_server.url + url)
        assert response is not None and response.ok, (url, response and response.status)
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # what htmx loads after the page
        violations = axe_violations(page, axe_script)
        if violations:
            found.append(f"{url} at {width} px:\n{readable(violations)}")
    assert not found, "axe-core found WCAG 2.1 AA violations:\n" + "\n".join(found)


def test_builder_pickers_open_have_no_wcag_21_aa_violations(
    page: Page, live_server, axe_script, marketer, demo_data
):
    """The builder's comboboxes and chips, with a list open (the page checks above see them
    closed)."""
    log_in(page, live_server.url)
    found = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(live_server.url + demo_data["segment builder"])
        page.locator("#node-n > .add").get_by_role("button", name="+ Condition").click()
        box = page.get_by_role("combobox", name="Activity")
        box.click()
        box.press("ArrowDown")
        expect(page.locator("#node-n-0-activity-options")).to_be_visible()
        violations = axe_violations(page, axe_script)
        if violations:
            found.append(f"activity list open at {width} px:\n{readable(violations)}")
        box.fill("Product Viewed")
        box.press("Enter")
        expect(page.locator("#node-n-0-activity")).to_have_value("track:Product Viewed")
        page.locator("#node-n-0").get_by_role("button", name="+ Property filter").click()
        path = page.get_by_role("combobox", name="Property")
        path.fill("category")
        page.locator("#n-0-where-0-path-options").get_by_role("option").first.click()
        page.locator("#n-0-where-0-operator").select_option("one_of")
        values = page.get_by_role("combobox", name="Add a value")
        values.fill("first, second")
        values.press("Enter")
        values.click()
        expect(page.locator("#n-0-where-0-chosen .chip")).to_have_count(2)
        expect(page.locator("#n-0-where-0-value-options")).to_be_visible()
        violations = axe_violations(page, axe_script)
        if violations:
            found.append(f"chips at {width} px:\n{readable(violations)}")
    assert not found, "axe-core found WCAG 2.1 AA violations:\n" + "\n".join(found)
