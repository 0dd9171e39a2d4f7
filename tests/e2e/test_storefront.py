"""A shopper in a real browser, on the demo storefront and on a site of its own origin, with
the web tracker sending to a live server: what the CDP stores is checked in the database."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from cdp_project.devtools.storefront import STOREFRONT_SOURCE, storefront_write_key
from ingestion.models import Event
from ingestion.tracker import tracker_snippet
from profiles.models import Order, Profile
from tests.conftest import process_stored

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_until(page: Page, check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll the database; waiting through Playwright lets its route handlers run meanwhile."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the tracker")
        page.wait_for_timeout(100)


def stored(name: str | None = None, **filters) -> int:
    events = Event.objects.filter(source__name=STOREFRONT_SOURCE, **filters)
    return events.filter(name=name).count() if name else events.count()


def add_first_product_of(page: Page, live_server, category: str, quantity: int = 1) -> str:
    page.goto(f"{live_server.url}/shop/{category}/")
    page.locator(".product-card a").first.click()
    sku = page.locator(".sku").inner_text()
    page.fill("#quantity", str(quantity))
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("status")).to_contain_text("Added to your cart")
    return sku


def test_a_shopper_browses_anonymously_logs_in_and_orders_into_one_profile(page: Page, live_server):
    shoe = add_first_product_of(page, live_server, "running-shoes", quantity=2)
    sock = add_first_product_of(page, live_server, "socks")
    page.goto(f"{live_server.url}/shop/cart/")
    expect(page.locator("[data-cart-lines] tr")).to_have_count(2)
    page.locator(f"tr[data-sku='{sock}']").get_by_role("button", name="Remove").click()
    expect(page.locator("[data-cart-lines] tr")).to_have_count(1)
    wait_until(page, lambda: stored("Product Removed") == 1)
    # Everything so far was anonymous.
    assert stored(user_id="") == stored()

    page.get_by_role("link", name="Check out").click()
    page.fill("#email", "Grace@Example.com")
    page.fill("#first_name", "Grace")
    page.check("input[name=email_opt_in]")
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("[data-thanks]")).to_contain_text("Thank you")
    order_id = page.locator("[data-order-id]").inner_text()
    expect(page.locator("[data-cart-count]")).to_have_text("0")
    wait_until(page, lambda: stored("Order Completed") == 1)

    process_stored()
    profile = Profile.objects.get()
    assert profile.user_id == "grace@example.com"
    assert profile.email == "grace@example.com"
    assert profile.traits["first_name"] == "Grace"
    assert profile.email_consent == "granted"
    # One profile holds the anonymous and the known history, in the order it happened.
    names = list(
        Event.objects.filter(profile=profile)
        .exclude(type="page")
        .order_by("timestamp")
        .values_list("type", "name")
    )
    assert names == [
        ("track", "Product List Viewed"),
        ("track", "Product Viewed"),
        ("track", "Product Added"),
        ("track", "Product List Viewed"),
        ("track", "Product Viewed"),
        ("track", "Product Added"),
        ("track", "Cart Viewed"),
        ("track", "Product Removed"),
        ("track", "Checkout Started"),
        ("identify", ""),
        ("track", "Order Completed"),
    ]
    assert Event.objects.exclude(profile=profile).count() == 0
    anonymous_ids = set(Event.objects.values_list("anonymous_id", flat=True))
    assert len(anonymous_ids) == 1
    order = Order.objects.get(order_id=order_id)
    assert order.profile == profile
    assert [(item["sku"], item["quantity"]) for item in order.products] == [(shoe, 2)]
    unit_price = order.products[0]["price"]
    assert float(order.total) == pytest.approx(2 * unit_price)  # free shipping from 75
    assert Event.objects.filter(name="Order Completed").get().context["library"] == {
        "name": "cdp.js",
        "version": "1.0.0",
    }


def test_events_made_offline_arrive_once_when_the_browser_is_back(
    context: BrowserContext, live_server
):
    page = context.new_page()
    add_first_product_of(page, live_server, "hats")
    wait_until(page, lambda: stored("Product Added") == 1)

    context.set_offline(True)
    page.fill("#quantity", "3")
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_timeout(1500)
    assert stored("Product Added") == 1
    queued = json.loads(page.evaluate("JSON.stringify(Object.entries(localStorage))"))
    queue = next(json.loads(value) for key, value in queued if key.endswith(".queue"))
    assert [m["event"] for m in queue] == ["Product Added"]
    # The tab is closed while still offline: the queue outlives it.
    page.close()

    context.set_offline(False)
    again = context.new_page()
    again.goto(f"{live_server.url}/shop/cart/")
    wait_until(again, lambda: stored("Product Added") == 2 and stored("Cart Viewed") == 1)
    added = Event.objects.filter(name="Product Added").order_by("timestamp")
    assert [e.properties["quantity"] for e in added] == [1, 3]
    again.wait_for_timeout(1000)
    assert stored("Product Added") == 2


def test_a_failed_send_is_retried_and_stored_once(page: Page, live_server):
    attempts: list[int] = []

    def flaky(route: Route) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            route.fulfill(status=503, headers={"Retry-After": "1"}, body="{}")
        else:
            route.continue_()

    page.route("**/v1/batch", flaky)
    page.goto(f"{live_server.url}/shop/")
    wait_until(page, lambda: stored() == 1)
    assert len(attempts) >= 2
    page.wait_for_timeout(500)
    assert stored() == 1


def test_with_consent_required_nothing_leaves_the_browser_before_consent(
    page: Page, live_server, settings
):
    settings.STOREFRONT_CONSENT_REQUIRED = True
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if "/v1/" in request.url else None)

    add_first_product_of(page, live_server, "jackets")
    expect(page.get_by_role("dialog", name="Tracking consent")).to_be_visible()
    page.wait_for_timeout(1000)
    assert sent == []
    assert stored() == 0
    assert not [c for c in page.context.cookies() if c["name"] == "cdp_anonymous_id"]
    keys = page.evaluate("Object.keys(localStorage)")
    assert not [k for k in keys if k.startswith("cdp.")]

    page.get_by_role("button", name="Accept").click()
    # What this page recorded while waiting goes out once consent is given.
    wait_until(page, lambda: stored("Product Added") == 1)
    assert [c for c in page.context.cookies() if c["name"] == "cdp_anonymous_id"]
    page.goto(f"{live_server.url}/shop/cart/")
    wait_until(page, lambda: stored("Cart Viewed") == 1)
    expect(page.get_by_role("dialog", name="Tracking consent")).to_be_hidden()


def test_declined_consent_sends_nothing(page: Page, live_server, settings):
    settings.STOREFRONT_CONSENT_REQUIRED = True
    add_first_product_of(page, live_server, "socks")
    page.get_by_role("button", name="Decline").click()
    page.goto(f"{live_server.url}/shop/cart/")
    page.wait_for_timeout(1000)
    assert stored() == 0


@pytest.fixture
def other_site() -> Iterator[dict[str, str]]:
    """A website of another origin, on loopback like the live server (a browser refuses a
    public page's requests to loopback): it serves whatever page the test puts in it."""
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path.split("?")[0], "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    pages["url"] = f"http://127.0.0.1:{server.server_port}"
    yield pages
    server.shutdown()
    server.server_close()


def site_page(snippet: str, script: str = "") -> str:
    head = f"<title>Site</title>{snippet}"
    return f"<!doctype html><html><head>{head}</head><body>{script}</body></html>"


def test_a_site_on_another_origin_sends_with_segment_call_shapes_and_no_preflight(
    page: Page, live_server, other_site
):
    key = storefront_write_key()
    calls = """<script>
      analytics.identify({plan: "pro"});
      analytics.identify("user-9", {email: "nine@example.com"}, {context: {ip: "203.0.113.9"}});
      analytics.track("Signed Up", {method: "email"}, function () { window.tracked = true; });
      analytics.page("Docs", "Install", {section: "web"});
      analytics.group("acme", {name: "Acme"});
      analytics.ready(function () { window.ready = analytics.user().id(); });
    </script>"""
    assert live_server.url.startswith("http://localhost:")  # another origin than the site's
    other_site["/docs/install"] = site_page(
        tracker_snippet(write_key=key.key, host=live_server.url), calls
    )
    methods: list[str] = []
    page.on("request", lambda r: methods.append(r.method) if "/v1/" in r.url else None)

    page.goto(f"{other_site['url']}/docs/install?utm_source=newsletter&utm_campaign=launch")
    wait_until(page, lambda: stored() == 5)
    assert page.evaluate("window.tracked") is True
    assert page.evaluate("window.ready") == "user-9"
    assert "OPTIONS" not in methods

    events = {e.type + ":" + e.name: e for e in Event.objects.all()}
    # The page asked for its page view itself, so there is no automatic second one.
    assert sorted(e.type + ":" + e.name for e in Event.objects.all()) == [
        "group:",
        "identify:",
        "identify:",
        "page:Install",
        "track:Signed Up",
    ]
    page_view = events["page:Install"]
    assert page_view.properties["category"] == "Docs"
    assert page_view.properties["section"] == "web"
    assert page_view.properties["path"] == "/docs/install"
    assert page_view.context["campaign"] == {"source": "newsletter", "name": "launch"}
    assert page_view.user_id == "user-9"
    anonymous = {e.anonymous_id for e in Event.objects.all()}
    assert len(anonymous) == 1 and anonymous != {""}
    assert page_view.context["timezone"]


def test_reset_on_logout_starts_a_new_visitor(page: Page, live_server):
    page.goto(f"{live_server.url}/shop/login/")
    page.fill("#email", "ken@example.com")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{live_server.url}/shop/")
    wait_until(page, lambda: stored(type="identify") == 1 and stored(type="page") == 2)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_load_state()
    wait_until(page, lambda: stored(type="page") == 3)
    last = Event.objects.filter(type="page").order_by("-timestamp").first()
    first = Event.objects.filter(type="page").order_by("timestamp").first()
    assert last.user_id == ""
    assert last.anonymous_id != first.anonymous_id


def test_on_a_phone_the_cart_fits_the_screen(browser, live_server):
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = phone.new_page()
    try:
        add_first_product_of(page, live_server, "jackets")
        page.goto(f"{live_server.url}/shop/cart/")
        remove = page.get_by_role("button", name="Remove")
        expect(remove).to_be_visible()
        box = remove.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # The header leaves most of the screen to the shop.
        assert page.locator(".shop-header").bounding_box()["height"] < 200
        remove.click()
        expect(page.locator("[data-cart-empty]")).to_be_visible()
    finally:
        phone.close()
