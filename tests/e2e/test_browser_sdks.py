"""Segment's and RudderStack's own browser SDKs, from npm, unchanged but for their hosts, in
Chromium against a live server: Segment's snippet (its CDN host pointed here), the
`@segment/analytics-next` package (`AnalyticsBrowser.load({ writeKey, cdnURL })`) and
RudderStack's `@rudderstack/analytics-js` v3 (`load(writeKey, dataPlaneUrl, { configUrl })`).

The packages are installed with npm at test time into tests/sdks/browser (never committed)
and served to the browser from there by a site of another origin, as a shop would host
them. They need Node.js and npm: without them these tests skip with the reason, unless
CDP_REQUIRE_NODE=1 (set by .ci/run)."""

from __future__ import annotations

import json
import mimetypes
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from playwright.sync_api import Page, Route

from ingestion.models import Event, Source, WriteKey
from ingestion.sdk_settings import BUILD_FOLDER, sdk_switch_lines
from profiles.models import Identity, Profile
from tests.conftest import process_stored
from tests.npm import npm_installed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SDK_DIR = Path(__file__).resolve().parents[1] / "sdks" / "browser"
MODULES = SDK_DIR / "node_modules"
SEGMENT_CDN = "https://cdn.segment.com"
# The package's `bundled` export, as RudderStack's README says for a site that hosts the SDK
# whole: the default export loads its plugins from RudderStack's CDN at run time.
RUDDERSTACK_ESM = "/npm/@rudderstack/analytics-js/dist/npm/modern/bundled/esm/index.mjs"


@pytest.fixture(scope="session")
def browser_sdks() -> Path:
    npm_installed(
        SDK_DIR,
        installed=MODULES / "@rudderstack" / "analytics-js",
        needed_for="the browser SDK tests",
    )
    return MODULES


@pytest.fixture
def site(browser_sdks) -> Iterator[dict[str, str]]:
    """A shop's website, on another origin than the app (loopback, like the live server):
    the pages the test puts in it, and the npm packages under /npm/."""
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = unquote(self.path.split("?")[0])
            if path.startswith("/npm/"):
                file = (browser_sdks / path.removeprefix("/npm/")).resolve()
                found = file.is_file() and file.is_relative_to(browser_sdks)
                body = file.read_bytes() if found else b""
                kind = "text/javascript" if file.suffix in (".js", ".mjs") else None
                content_type = kind or mimetypes.guess_type(file.name)[0] or "text/plain"
            else:
                body = pages.get(path, "").encode()
                content_type = "text/html; charset=utf-8"
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", content_type)
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


@pytest.fixture
def web_source(transactional_db) -> tuple[Source, str]:
    source = Source.objects.create(name="Shop website", kind=Source.Kind.WEB)
    return source, WriteKey.objects.create(source=source).key


@pytest.fixture
def sent(page: Page) -> list[tuple[str, int]]:
    """Every answer the app gave to the page's ingest calls: (path, status)."""
    answers: list[tuple[str, int]] = []

    def record(response) -> None:
        if "/v1/" in response.url and response.request.method == "POST":
            path = "/" + response.url.split("/", 3)[3].split("?")[0]
            answers.append((path, response.status))

    page.on("response", record)
    return answers


def wait_until(page: Page, check: Callable[[], bool], timeout: float = 30.0, what: str = ""):
    """Poll the database; waiting through Playwright lets the page and its routes run."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        page.wait_for_timeout(100)


def types_stored(source: Source) -> list[str]:
    return sorted(Event.objects.filter(source=source).values_list("type", flat=True))


def page_html(head: str, body: str = "") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Trail shoes</title>'
        f"{head}</head><body><h1>Trail shoes</h1>{body}</body></html>"
    )


def segment_snippet(write_key: str, app_url: str) -> str:
    """Segment's snippet as @segment/snippet renders it (the one Segment's docs show), with
    the two lines the Sources page shows: its CDN host becomes the app, and `_cdn` says so."""
    rendered = subprocess.run(
        [
            "node",
            "-e",
            "process.stdout.write(require('@segment/snippet').min("
            f"{{apiKey: {json.dumps(write_key)}, page: true}}))",
        ],
        cwd=SDK_DIR,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    lines = {
        line.key: line.code for line in sdk_switch_lines(write_key=write_key, base_url=app_url)
    }
    original_src = f'{SEGMENT_CDN}/analytics.js/v1/" + key + "/analytics.min.js";'
    assert rendered.count(SEGMENT_CDN) == 1 and rendered.count(original_src) == 1, rendered
    changed = rendered.replace(f't.src="{original_src}', lines["segment-snippet-src"])
    writes_key = f"analytics._writeKey={json.dumps(write_key)};"
    changed = changed.replace(writes_key, writes_key + lines["segment-snippet-cdn"], 1)
    assert SEGMENT_CDN not in changed and "analytics._cdn" in changed
    return f"<script>{changed}</script>"


def segment_cookie(page: Page, name: str) -> str:
    """A cookie analytics.js set: the id itself, or older versions' JSON string of it."""
    cookie = next(c for c in page.context.cookies() if c["name"] == name)
    value = unquote(cookie["value"])
    return json.loads(value) if value.startswith('"') else value


def profile_of(namespace: str, value: str) -> Profile:
    return Identity.objects.select_related("profile").get(namespace=namespace, value=value).profile


# --- Segment's analytics.js -----------------------------------------------------------------


def test_the_shipped_analytics_js_is_the_npm_packages_standalone_build(browser_sdks):
    umd = browser_sdks / "@segment" / "analytics-next" / "dist" / "umd"
    assert (BUILD_FOLDER / "standalone.js").read_bytes() == (umd / "standalone.js").read_bytes()
    chunks = {p.name for p in umd.glob("*.bundle.*.js")}
    assert chunks and chunks == {p.name for p in BUILD_FOLDER.glob("*.bundle.*.js")}
    for name in chunks:
        assert (BUILD_FOLDER / name).read_bytes() == (umd / name).read_bytes()
    package = json.loads((umd.parents[1] / "package.json").read_text())
    assert package["license"] == "MIT"


def test_segments_snippet_with_its_cdn_host_changed_sends_every_call_and_stitches(
    page: Page, live_server, site, web_source, sent
):
    source, key = web_source
    site["/shoes"] = page_html(segment_snippet(key, live_server.url))

    page.goto(f"{site['url']}/shoes")
    wait_until(page, lambda: types_stored(source) == ["page"], what="the snippet's page call")
    anonymous_id = segment_cookie(page, "ajs_anonymous_id")
    page.evaluate("analytics.track('Product Viewed', {sku: 'TRAIL-42', price: 89.9})")
    wait_until(page, lambda: len(types_stored(source)) == 2, what="the track call")

    # The next page of the visit: the same anonymous id, from the SDK's own cookie.
    page.goto(f"{site['url']}/shoes?color=blue")
    page.evaluate(
        """() => {
          analytics.identify('user-42', {email: 'ada@example.com', first_name: 'Ada'});
          analytics.group('acme', {plan: 'pro'});
          analytics.alias('customer-42');
        }"""
    )
    wait_until(
        page,
        lambda: types_stored(source) == ["alias", "group", "identify", "page", "page", "track"],
        what="identify, group and alias",
    )
    assert segment_cookie(page, "ajs_user_id") == "user-42"

    events = {e.type: e for e in Event.objects.filter(source=source).order_by("pk")}
    # The answers reach the page just after the events are committed.
    wait_until(page, lambda: len(sent) == 6, timeout=60, what="the page to read every answer")
    assert sorted(path for path, _ in sent) == sorted(
        ["/v1/p", "/v1/t", "/v1/p", "/v1/i", "/v1/g", "/v1/a"]
    )
    assert all(status == 200 for _, status in sent), sent
    assert events["track"].anonymous_id == anonymous_id
    assert events["track"].properties == {"sku": "TRAIL-42", "price": 89.9}
    assert events["track"].context["library"]["name"] == "analytics.js"
    assert events["track"].sent_at is not None
    assert events["page"].properties["url"].startswith(site["url"])
    assert events["identify"].traits["email"] == "ada@example.com"
    assert events["group"].properties.get("group_id", "acme") == "acme"
    assert Event.objects.filter(source=source, anonymous_id=anonymous_id).count() == 6

    process_stored()
    person = profile_of("user_id", "user-42")
    assert person == profile_of("anonymous_id", anonymous_id)
    assert person.email == "ada@example.com"
    assert Event.objects.filter(source=source, profile=person).count() == 6


def test_analytics_next_from_npm_loads_its_settings_here_and_batches_to_v1_b(
    page: Page, live_server, site, web_source, sent
):
    source, key = web_source
    options = {
        "integrations": {
            "Segment.io": {
                "deliveryStrategy": {"strategy": "batching", "config": {"size": 3, "timeout": 500}}
            }
        }
    }
    site["/shop"] = page_html(
        '<script src="/npm/@segment/analytics-next/dist/umd/index.js"></script>',
        "<script>window.analytics = AnalyticsNext.AnalyticsBrowser.load("
        f"{{writeKey: {json.dumps(key)}, cdnURL: {json.dumps(live_server.url)}}}, "
        f"{json.dumps(options)}); analytics.page();</script>",
    )

    page.goto(f"{site['url']}/shop")
    page.evaluate(
        """async () => {
          await analytics.track('Product Added', {sku: 'S-1'});
          await analytics.identify('user-7', {email: 'seven@example.com'});
        }"""
    )
    wait_until(page, lambda: types_stored(source) == ["identify", "page", "track"], what="batch")
    wait_until(page, lambda: bool(sent), what="the page to read the answer")
    assert {path for path, _ in sent} == {"/v1/b"}
    [user] = page.evaluate("[analytics.instance.user().anonymousId()]")
    assert Event.objects.filter(source=source, anonymous_id=user).count() == 3


def test_analytics_js_survives_a_429_and_a_503_with_its_own_retries(
    page: Page, live_server, site, web_source, sent, settings
):
    source, key = web_source
    # A real 429 from the app: two events per two seconds for this key.
    settings.INGEST_RATE_LIMIT_EVENTS = 2
    settings.INGEST_RATE_LIMIT_WINDOW_SECONDS = 2
    # A 503 as the app answers when its database is down, once, for the first track.
    failed: list[str] = []

    def down_once(route: Route) -> None:
        if not failed:
            failed.append(route.request.url)
            route.fulfill(
                status=503,
                headers={"Retry-After": "1", "Access-Control-Allow-Origin": site["url"]},
                content_type="application/json",
                body='{"success": false, "code": "database_unavailable", "message": "Retry."}',
            )
        else:
            route.continue_()

    page.route("**/v1/t", down_once)
    site["/shoes"] = page_html(segment_snippet(key, live_server.url))
    page.goto(f"{site['url']}/shoes")
    page.evaluate("""() => { for (const n of [1, 2, 3, 4]) analytics.track('Step ' + n, {n}); }""")
    wait_until(
        page,
        lambda: Event.objects.filter(source=source, type="track").count() == 4,
        timeout=60,
        what="every track after the 429 and the 503",
    )
    statuses = [status for _, status in sent]
    assert 429 in statuses and 503 in statuses, sent
    # The page call may have met the 429 too (on a busy machine it can arrive after the
    # tracks): the SDK's own retry brings it, with its back-off.
    wait_until(
        page,
        lambda: types_stored(source).count("page") >= 1,
        timeout=60,
        what="the page call after its retries",
    )
    page.wait_for_timeout(1500)
    names = sorted(Event.objects.filter(source=source, type="track").values_list("name", flat=True))
    assert names == ["Step 1", "Step 2", "Step 3", "Step 4"]  # each once
    assert types_stored(source).count("page") == 1


def test_a_revoked_key_loads_no_settings_and_sends_nothing(
    page: Page, live_server, site, web_source, sent
):
    source, key = web_source
    WriteKey.objects.filter(key=key).update(revoked_at="2026-01-01T00:00:00Z")
    settings_answers: list[int] = []
    page.on(
        "response",
        lambda r: settings_answers.append(r.status) if "/settings" in r.url else None,
    )
    site["/shoes"] = page_html(segment_snippet(key, live_server.url))
    page.goto(f"{site['url']}/shoes")
    wait_until(page, lambda: bool(settings_answers), what="the settings request")
    page.wait_for_timeout(1500)
    assert settings_answers == [404]
    assert sent == [] and types_stored(source) == []


# --- RudderStack's JavaScript SDK v3 -------------------------------------------------------


def rudderstack_page(key: str, app_url: str) -> str:
    return page_html(
        "",
        '<script type="module">'
        f"import {{ RudderAnalytics }} from '{RUDDERSTACK_ESM}';"
        "const rudderanalytics = new RudderAnalytics();"
        f"rudderanalytics.load({json.dumps(key)}, {json.dumps(app_url)}, "
        f"{{configUrl: {json.dumps(app_url)}}});"
        "rudderanalytics.page();"
        "window.rudderanalytics = rudderanalytics;"
        "</script>",
    )


def test_rudderstack_sdk_with_its_data_plane_and_config_urls_changed_sends_every_call(
    page: Page, live_server, site, web_source, sent
):
    source, key = web_source
    site["/shoes"] = rudderstack_page(key, live_server.url)

    page.goto(f"{site['url']}/shoes")
    wait_until(page, lambda: types_stored(source) == ["page"], what="RudderStack's page call")
    anonymous_id = page.evaluate("rudderanalytics.getAnonymousId()")
    assert [c for c in page.context.cookies() if c["name"] == "rl_anonymous_id"]
    page.evaluate(
        """() => {
          rudderanalytics.track('Product Viewed', {sku: 'TRAIL-42'});
          rudderanalytics.identify('user-5', {email: 'five@example.com'});
          rudderanalytics.group('acme', {plan: 'pro'});
          rudderanalytics.alias('customer-5');
        }"""
    )
    wait_until(
        page,
        lambda: types_stored(source) == ["alias", "group", "identify", "page", "track"],
        what="track, identify, group and alias",
    )
    # The page reads each answer before it moves on (a navigation drops the answers still
    # on their way, though the app stored their events).
    wait_until(page, lambda: len(sent) == 5, timeout=60, what="the first page to read its answers")
    # The next page: the same anonymous id, from the SDK's own cookie.
    page.goto(f"{site['url']}/shoes?again=1")
    wait_until(page, lambda: types_stored(source).count("page") == 2, what="the second page")
    assert page.evaluate("rudderanalytics.getAnonymousId()") == anonymous_id
    wait_until(page, lambda: len(sent) == 6, timeout=60, what="the page to read every answer")
    assert {path for path, _ in sent} == {
        "/v1/page",
        "/v1/track",
        "/v1/identify",
        "/v1/group",
        "/v1/alias",
    }
    track = Event.objects.get(source=source, type="track")
    assert track.anonymous_id == anonymous_id
    assert track.context["library"]["name"] == "RudderLabs JavaScript SDK"

    process_stored()
    person = profile_of("user_id", "user-5")
    assert person == profile_of("anonymous_id", anonymous_id)
    assert Event.objects.filter(source=source, profile=person).count() == 6


def test_rudderstack_sdk_survives_a_429_and_a_503_with_its_own_retries(
    page: Page, live_server, site, web_source, sent, settings
):
    source, key = web_source
    settings.INGEST_RATE_LIMIT_EVENTS = 2
    settings.INGEST_RATE_LIMIT_WINDOW_SECONDS = 2
    failed: list[str] = []

    def down_once(route: Route) -> None:
        if not failed:
            failed.append(route.request.url)
            route.fulfill(
                status=503,
                headers={"Retry-After": "1", "Access-Control-Allow-Origin": site["url"]},
                content_type="application/json",
                body='{"success": false, "code": "database_unavailable", "message": "Retry."}',
            )
        else:
            route.continue_()

    page.route("**/v1/track", down_once)
    site["/shoes"] = rudderstack_page(key, live_server.url)
    page.goto(f"{site['url']}/shoes")
    page.evaluate(
        """() => { for (const n of [1, 2, 3, 4]) rudderanalytics.track('Step ' + n, {n}); }"""
    )
    wait_until(
        page,
        lambda: Event.objects.filter(source=source, type="track").count() == 4,
        timeout=90,
        what="every track after the 429 and the 503",
    )
    statuses = [status for _, status in sent]
    assert 429 in statuses and 503 in statuses, sent
    page.wait_for_timeout(1500)
    names = sorted(Event.objects.filter(source=source, type="track").values_list("name", flat=True))
    assert names == ["Step 1", "Step 2", "Step 3", "Step 4"]
