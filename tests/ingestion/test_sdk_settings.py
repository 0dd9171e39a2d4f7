"""What Segment's and RudderStack's browser and mobile SDKs fetch before they send (their
settings), the short paths analytics.js posts to, and Segment's analytics.js build the
snippet loads. The SDKs themselves, in Chromium, are in tests/e2e/test_browser_sdks.py."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime

import pytest

from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.models import Event, Refusal
from ingestion.sdk_settings import BUILD_FOLDER

pytestmark = pytest.mark.django_db


# --- Segment's settings ---------------------------------------------------------------------


def test_segment_settings_point_the_sdk_back_at_this_app(client, write_key):
    response = client.get(f"/v1/projects/{write_key.key}/settings", HTTP_HOST="localhost:8100")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    settings = response.json()
    segment_io = settings["integrations"]["Segment.io"]
    assert segment_io["apiKey"] == write_key.key
    assert segment_io["apiHost"] == "localhost:8100/v1"
    assert segment_io["protocol"] == "http"
    # Nothing that makes the SDK load code or send anywhere else.
    assert list(settings["integrations"]) == ["Segment.io"]
    assert settings["metrics"]["sampleRate"] == 0
    assert settings["remotePlugins"] == []
    assert not settings["plan"] and not settings["legacyVideoPluginsEnabled"]


def test_segment_settings_name_the_host_a_trusted_proxy_forwarded(client, write_key, settings):
    settings.ALLOWED_HOSTS = ["cdp.example.com", "localhost"]
    url = f"/v1/projects/{write_key.key}/settings"
    forwarded = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "cdp.example.com"}

    behind_proxy = client.get(url, HTTP_HOST="localhost", REMOTE_ADDR="127.0.0.1", **forwarded)
    segment_io = behind_proxy.json()["integrations"]["Segment.io"]
    assert (segment_io["protocol"], segment_io["apiHost"]) == ("https", "cdp.example.com/v1")

    # The same headers from an address that is no trusted proxy are not believed.
    direct = client.get(url, HTTP_HOST="localhost", REMOTE_ADDR="203.0.113.9", **forwarded)
    segment_io = direct.json()["integrations"]["Segment.io"]
    assert (segment_io["protocol"], segment_io["apiHost"]) == ("http", "localhost/v1")

    # Nor is a forwarded host the app does not serve.
    stray = client.get(
        url,
        HTTP_HOST="localhost",
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_HOST="evil.example",
    )
    assert stray.json()["integrations"]["Segment.io"]["apiHost"] == "localhost/v1"


def test_segment_settings_of_a_revoked_key_or_a_disabled_source_are_not_found(
    client, source, write_key
):
    url = f"/v1/projects/{write_key.key}/settings"
    assert client.get("/v1/projects/no-such-key/settings").status_code == 404

    services.source_update(
        actor=Actor.system("test"),
        source=source,
        name=source.name,
        kind=source.kind,
        enabled=False,
        allowed_origins=[],
    )
    assert client.get(url).status_code == 404

    services.source_update(
        actor=Actor.system("test"),
        source=source,
        name=source.name,
        kind=source.kind,
        enabled=True,
        allowed_origins=[],
    )
    assert client.get(url).status_code == 200
    services.write_key_revoke(actor=Actor.system("test"), write_key=write_key)
    response = client.get(url)
    assert response.status_code == 404
    assert response["Access-Control-Allow-Origin"] == "*"  # the browser may read why


# --- RudderStack's source configuration -----------------------------------------------------


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


@pytest.mark.parametrize("path", ["/sourceConfig", "/sourceConfig/"])
def test_rudderstack_source_config_is_the_source_enabled_without_destinations(
    client, source, write_key, path
):
    response = client.get(
        path,
        {"p": "npm", "v": "3.34.1", "build": "modern", "writeKey": write_key.key},
        HTTP_AUTHORIZATION=_basic(write_key.key),
        HTTP_ORIGIN="http://shop.example",
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    config = response.json()["source"]
    assert config["id"] == str(source.pk) and config["name"] == source.name
    assert config["enabled"] is True
    assert config["destinations"] == []
    assert config["config"]["statsCollection"]["errors"]["enabled"] is False
    assert config["config"]["statsCollection"]["metrics"]["enabled"] is False

    by_query = client.get(path, {"writeKey": write_key.key})
    assert by_query.json()["source"]["id"] == str(source.pk)


def test_rudderstack_source_config_preflight_allows_the_authorization_header(client):
    response = client.options(
        "/sourceConfig/",
        HTTP_ORIGIN="http://shop.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "authorization" in response["Access-Control-Allow-Headers"].lower()
    assert "GET" in response["Access-Control-Allow-Methods"]


def test_rudderstack_source_config_refuses_an_unusable_key(client, source, write_key):
    assert client.get("/sourceConfig/").status_code == 401
    assert client.get("/sourceConfig/", {"writeKey": "nope"}).status_code == 401
    malformed = client.get("/sourceConfig/", HTTP_AUTHORIZATION="Basic !!!")
    assert malformed.status_code == 401
    assert malformed.json()["code"] == "invalid_write_key"

    services.write_key_revoke(actor=Actor.system("test"), write_key=write_key)
    revoked = client.get("/sourceConfig/", HTTP_AUTHORIZATION=_basic(write_key.key))
    assert revoked.status_code == 401
    assert client.post("/sourceConfig/").status_code == 405


# --- analytics.js's short paths -------------------------------------------------------------

SHORT_PATHS = {
    "t": "track",
    "p": "page",
    "i": "identify",
    "g": "group",
    "a": "alias",
    "s": "screen",
}


def analytics_js_body(type_: str, key: str, **fields) -> dict:
    """A call as analytics.js 1.84 posts it: the write key, `sentAt` and `_metadata` in the
    body, the browser's context, `userId: null` while the visitor is anonymous."""
    body = {
        "type": type_,
        "anonymousId": "9f3c2b1e-5a0d-4c8e-8b7f-1d2e3f4a5b6c",
        "userId": None,
        "messageId": f"ajs-next-1764936000000-{type_}",
        "timestamp": "2026-12-05T12:00:00.000Z",
        "sentAt": "2026-12-05T12:00:00.250Z",
        "writeKey": key,
        "integrations": {},
        "context": {
            "page": {"path": "/shoes", "url": "https://shop.example/shoes", "title": "Shoes"},
            "userAgent": "Mozilla/5.0",
            "locale": "en-US",
            "library": {"name": "analytics.js", "version": "next-1.84.3"},
            "timezone": "Europe/Paris",
        },
        "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
    }
    return {**body, **fields}


CALLS = {
    "t": {"event": "Product Added", "properties": {"sku": "S-1"}},
    "p": {"name": None, "properties": {"path": "/shoes", "url": "https://shop.example/shoes"}},
    "i": {"userId": "user-7", "traits": {"email": "ada@example.com"}},
    "g": {"userId": "user-7", "groupId": "acme", "traits": {"plan": "pro"}},
    "a": {"userId": "user-7", "previousId": "9f3c2b1e-5a0d-4c8e-8b7f-1d2e3f4a5b6c"},
    "s": {"name": "Cart"},
}


@pytest.mark.parametrize("alias", list(SHORT_PATHS))
def test_each_short_path_stores_its_type_as_the_long_one(client, source, write_key, alias):
    body = analytics_js_body(SHORT_PATHS[alias], write_key.key, **CALLS[alias])
    for route in (f"/v1/{alias}", f"/v1/{alias}/"):
        response = client.post(
            route,
            data=json.dumps(body),
            content_type="text/plain",
            headers={"Origin": "https://shop.example"},
        )
        assert response.status_code == 200, response.content
        assert response["Access-Control-Allow-Origin"] == "https://shop.example"
    # Sent twice with one messageId: stored once, as on the long path.
    assert response.json()["duplicates"] == 1
    event = Event.objects.get(source=source)
    assert event.type == SHORT_PATHS[alias]
    assert event.sent_at == datetime(2026, 12, 5, 12, 0, 0, 250000, tzinfo=UTC)
    assert event.context["library"]["name"] == "analytics.js"
    assert event.context["timezone"] == "Europe/Paris"
    assert "_metadata" not in event.properties


@pytest.mark.parametrize("path", ["t", "p", "i", "g", "a", "s", "b", "track", "batch", "import"])
def test_every_ingest_path_answers_the_cors_preflight(client, path):
    response = client.options(
        f"/v1/{path}",
        HTTP_ORIGIN="https://shop.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,authorization",
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Allow-Headers"] == "content-type,authorization"


def test_short_paths_refuse_as_the_long_ones_and_show_it_in_the_debugger(client, source, write_key):
    bad_key = client.post(
        "/v1/t",
        data=json.dumps(analytics_js_body("track", "wrong", event="X")),
        content_type="text/plain",
    )
    assert bad_key.status_code == 401 and bad_key.json()["code"] == "invalid_write_key"

    no_event = client.post(
        "/v1/t",
        data=json.dumps(analytics_js_body("track", write_key.key)),
        content_type="text/plain",
    )
    assert no_event.status_code == 400 and no_event.json()["code"] == "missing_event"
    assert Refusal.objects.filter(source=source, code="missing_event").exists()

    services.source_update(
        actor=Actor.system("test"),
        source=source,
        name=source.name,
        kind=source.kind,
        enabled=True,
        allowed_origins=["https://shop.example"],
    )
    elsewhere = client.post(
        "/v1/p",
        data=json.dumps(analytics_js_body("page", write_key.key)),
        content_type="text/plain",
        headers={"Origin": "https://other.example"},
    )
    assert elsewhere.status_code == 403
    assert not Event.objects.exists()


def test_short_paths_count_towards_the_write_keys_rate_limit(client, write_key, settings):
    settings.INGEST_RATE_LIMIT_EVENTS = 1
    first = client.post(
        "/v1/t",
        data=json.dumps(analytics_js_body("track", write_key.key, event="A", messageId="m1")),
        content_type="text/plain",
    )
    second = client.post(
        "/v1/t",
        data=json.dumps(analytics_js_body("track", write_key.key, event="B", messageId="m2")),
        content_type="text/plain",
    )
    assert first.status_code == 200
    assert second.status_code == 429 and second["Retry-After"]
    assert Event.objects.count() == 1


def test_short_paths_are_kept_out_of_the_openapi_schema(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert "/v1/track" in paths
    assert not {p for p in paths if p.startswith("/v1/") and len(p) <= len("/v1/t/")}
    assert not any("projects" in p for p in paths)


# --- analytics.js itself ------------------------------------------------------------------


def test_the_snippet_path_serves_segments_standalone_build_with_its_licence(client):
    shipped = (BUILD_FOLDER / "standalone.js").read_bytes()
    assert "MIT" in (BUILD_FOLDER / "LICENSE.md").read_text()

    plain = client.get("/analytics.js/v1/ANYKEY/analytics.min.js")
    assert plain.status_code == 200
    assert plain["Content-Type"].startswith("text/javascript")
    assert plain.content == shipped
    assert plain["Access-Control-Allow-Origin"] == "*"

    zipped = client.get("/analytics.js/v1/ANYKEY/analytics.min.js", HTTP_ACCEPT_ENCODING="gzip")
    assert gzip.decompress(zipped.content) == shipped
    again = client.get("/analytics.js/v1/ANYKEY/analytics.min.js", HTTP_IF_NONE_MATCH=plain["ETag"])
    assert again.status_code == 304


def test_the_lazy_chunks_are_served_and_nothing_else_of_the_folder(client):
    chunk = next(BUILD_FOLDER.glob("queryString.bundle.*.js"))
    response = client.get(f"/analytics-next/bundles/{chunk.name}")
    assert response.status_code == 200 and response.content == chunk.read_bytes()

    assert client.get("/analytics-next/bundles/LICENSE.md").status_code == 404
    assert client.get("/analytics-next/bundles/standalone.js").status_code == 404
    assert client.get("/analytics-next/bundles/nope.bundle.0123abcd.js").status_code == 404


# --- the Sources page -----------------------------------------------------------------------


def test_a_web_sources_page_lists_the_lines_to_change_for_each_sdk(admin_client, settings):
    settings.ALLOWED_HOSTS = ["cdp.test", "testserver"]
    web = services.source_create(actor=Actor.system("test"), name="Web shop", kind="web")
    key = web.write_keys.get().key
    html = admin_client.get(f"/sources/{web.pk}/", HTTP_HOST="cdp.test").content.decode()
    assert "Already use Segment? Change only these" in html
    assert "t.src=&quot;http://cdp.test/analytics.js/v1/&quot; + key + " in html
    assert "analytics._cdn=&quot;http://cdp.test&quot;;" in html
    assert f"writeKey: &quot;{key}&quot;, cdnURL: &quot;http://cdp.test&quot;" in html
    assert "apiHost: &quot;cdp.test/v1&quot;, protocol: &quot;http&quot;" in html
    assert (
        f"rudderanalytics.load(&quot;{key}&quot;, &quot;http://cdp.test&quot;, "
        "{ configUrl: &quot;http://cdp.test&quot; });" in html
    )
    assert html.count('data-copy="switch-') == 5

    server = services.source_create(actor=Actor.system("test"), name="Backend", kind="server")
    assert "Already use Segment?" not in admin_client.get(f"/sources/{server.pk}/").content.decode()
