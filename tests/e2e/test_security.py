"""Hostile event values in a real browser: nothing they carry runs, on any page that shows
them, and every page works under the Content-Security-Policy without a violation."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Page, expect

from campaigns import services as campaign_services
from campaigns.defaults import campaigns_setup
from campaigns.models import Campaign
from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.models import Activity, Source
from profiles.models import Profile
from tests.conftest import process_stored

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCRIPT = "<script>window.__pwned = 'script'</script>"
IMAGE = "<img src=x onerror=\"window.__pwned = 'onerror'\">"
SVG = "<svg onload=\"window.__pwned = 'svg'\"></svg>"
NAME = f"Trail shoe {SCRIPT}{IMAGE}"
LINK = "javascript:window.__pwned='link'"

# Set before any page script runs: what a violation or an injected script would leave.
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


@pytest.fixture
def hostile_store(live_server, django_user_model):
    django_user_model.objects.create_user("marketer", password="s3cret-pass")
    source = services.source_create(actor=Actor.system("test"), name=f"Shop {SVG}")
    key = source.write_keys.get().key
    product = {
        "sku": "SKU-1",
        "name": NAME,
        "price": 89.9,
        "url": LINK,
        "image_url": "javascript:window.__pwned='image'",
        "category": SCRIPT,
    }
    batch = [
        {
            "type": "identify",
            "userId": "ada",
            "traits": {
                "email": "ada@example.com",
                "name": f"Ada {SCRIPT}",
                "website": LINK,
                "email_opt_in": True,
            },
        },
        {"type": "track", "userId": "ada", "event": "Product Viewed", "properties": product},
        {"type": "track", "userId": "ada", "event": "Product Added", "properties": product},
        {"type": "track", "userId": "ada", "event": f"Hacked {IMAGE}", "properties": {"x": SVG}},
        {"type": "page", "userId": "ada", "name": SCRIPT, "properties": {"url": LINK}},
    ]
    response = requests.post(
        live_server.url + "/v1/batch", json={"batch": batch}, auth=(key, ""), timeout=10
    )
    assert response.json()["accepted"] == len(batch)
    # A refused event with a hostile value, for the debugger's refusals.
    requests.post(live_server.url + "/v1/track", json={"event": NAME}, auth=(key, ""), timeout=10)
    process_stored()
    campaigns_setup()
    profile = Profile.objects.get(user_id="ada")
    campaign = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_BROWSE)
    message = campaign_services.campaign_test_send(
        actor=Actor.system("test"), campaign=campaign, profile=profile, address="me@example.com"
    )
    return {
        "source": Source.objects.get(pk=source.pk),
        "profile": profile,
        "campaign": campaign,
        "message": message,
        "activity": Activity.objects.get(name="Product Viewed"),
        "hacked": Activity.objects.get(name__startswith="Hacked"),
    }


def log_in(page: Page, base_url: str) -> None:
    page.goto(base_url + "/accounts/login/")
    page.get_by_label("Username").fill("marketer")
    page.get_by_label("Password").fill("s3cret-pass")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def assert_nothing_ran(page: Page, url: str, dialogs: list[str], console: list[str]) -> None:
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__pwned") is None, url
    assert page.evaluate("window.__violations") == [], url
    assert not dialogs, url
    assert not [m for m in console if "Content Security Policy" in m], url
    for frame in page.frames:
        links = frame.locator("a[href^='javascript:' i], [src^='javascript:' i]")
        assert links.count() == 0, f"{url}: {frame.url}"


def test_hostile_values_are_shown_as_text_everywhere(page: Page, live_server, hostile_store):
    dialogs: list[str] = []
    console: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(WATCH)
    log_in(page, live_server.url)

    store = hostile_store
    pages = [
        "/",
        f"/profiles/{store['profile'].pk}/",
        "/profiles/?q=ada",
        f"/activities/{store['activity'].pk}/",
        f"/activities/{store['hacked'].pk}/",
        "/activities/",
        "/activities/attributes/",
        "/activities/products/",
        f"/sources/{store['source'].pk}/",
        "/sources/",
        "/segments/new/",
        f"/campaigns/{store['campaign'].pk}/?profile=ada",
        "/campaigns/outbox/",
        f"/campaigns/outbox/{store['message'].pk}/",
    ]
    for path in pages:
        page.goto(live_server.url + path)
        assert_nothing_ran(page, path, dialogs, console)

    # The values are there, as text.
    page.goto(live_server.url + f"/profiles/{store['profile'].pk}/")
    expect(page.locator("body")).to_contain_text("Trail shoe <script>")
    page.goto(live_server.url + "/activities/products/")
    expect(page.locator("body")).to_contain_text("<img src=x onerror=")
    expect(page.get_by_role("link", name="Trail shoe")).to_have_count(0)

    # The builder's live preview (htmx) lists Ada among ten people: escaped too.
    page.goto(live_server.url + "/segments/new/")
    expect(page.locator("#preview")).to_contain_text("Ada <script>", timeout=10_000)
    assert_nothing_ran(page, "/segments/new/ preview", dialogs, console)

    # Every payload opened in the timeline, and the campaign's HTML preview rendered.
    page.goto(live_server.url + f"/profiles/{store['profile'].pk}/")
    for summary in page.locator("#timeline details > summary").all()[:10]:
        summary.click()
    assert_nothing_ran(page, "timeline payloads", dialogs, console)
    page.goto(live_server.url + f"/campaigns/{store['campaign'].pk}/?profile=ada")
    preview = page.frame_locator("iframe.message-html")
    expect(preview.locator("body")).to_contain_text("Trail shoe <script>")
    assert_nothing_ran(page, "campaign preview", dialogs, console)


def test_main_pages_raise_no_csp_violation_and_htmx_still_works(
    page: Page, live_server, hostile_store
):
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(WATCH)
    log_in(page, live_server.url)
    for path in [
        "/segments/",
        "/campaigns/",
        f"/segments/{_segment(hostile_store)}/",
        "/api/docs/",
        "/shop/",
        "/shop/cart/",
    ]:
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__violations") == [], path
        assert not [m for m in console if "Content Security Policy" in m], path

    # Swagger UI starts from its own script file and shows the API.
    page.goto(live_server.url + "/api/docs/")
    expect(page.get_by_text("/v1/track").first).to_be_visible(timeout=10_000)

    # htmx under the policy: a note is added without a page load.
    page.goto(live_server.url + f"/profiles/{hostile_store['profile'].pk}/")
    page.get_by_label("Add a note").fill(f"Called her {SCRIPT}")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#note-form")).to_contain_text("Note added.")
    expect(page.locator("#timeline")).to_contain_text("Called her <script>")
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("window.__violations") == []

    # The debugger polls until paused, and again once resumed (no eval needed).
    source = hostile_store["source"]
    key = source.write_keys.get().key
    page.goto(live_server.url + f"/sources/{source.pk}/")
    rows = page.locator("#event-rows details")
    page.get_by_role("button", name="Pause").click()
    page.wait_for_timeout(2_500)  # a poll already on its way may still land
    shown = rows.count()
    requests.post(
        live_server.url + "/v1/track",
        json={"userId": "ada", "event": "While paused"},
        auth=(key, ""),
        timeout=10,
    )
    page.wait_for_timeout(4_500)
    expect(rows).to_have_count(shown)
    page.get_by_role("button", name="Resume").click()
    expect(rows).to_have_count(shown + 1, timeout=10_000)
    assert page.evaluate("window.__violations") == []

    # The shop's inline tracker snippet runs with its nonce and sends. The answer is awaited,
    # so that no batch is still being stored when the test's database is emptied.
    with page.expect_response(
        lambda r: "/v1/" in r.url and r.request.method == "POST", timeout=15_000
    ) as answer:
        page.goto(live_server.url + "/shop/")
        page.wait_for_function("window.analytics && window.analytics.initialized === true")
    assert answer.value.status == 200
    assert page.evaluate("window.__violations") == []


def _segment(store) -> int:
    from segments import services as segment_services
    from segments.definition import empty_group

    return segment_services.segment_create(
        actor=Actor.system("test"), name=f"Everyone {SCRIPT}", definition=empty_group()
    ).pk
