"""Every marketer page needs a login, Django admin needs staff, and a write key reads nothing."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.access.conftest import url_patterns
from tests.conftest import basic_auth

pytestmark = pytest.mark.django_db

# The only pages an anonymous visitor may open, each with the reason. A new page that is
# not listed here must redirect an anonymous GET to the login page.
PUBLIC = {
    r"^/v1/": "the ingest API: write keys, not logins (tests below)",
    r"^/cdp\.js$": "the web tracker's script, loaded by any website",
    r"^/analytics\.js/v1/": "Segment's analytics.js, loaded by the snippet on any website",
    r"^/analytics-next/bundles/": "the chunks analytics.js loads after it",
    r"^/sourceConfig/?$": "RudderStack's SDK settings for a write key (no login)",
    r"^/shop/": "the demo storefront, a public shop",
    r"^/health/$": "load balancers' health check",
    r"^/campaigns/unsubscribe/": "the signed unsubscribe link in emails",
    r"^/campaigns/esp/": "the email provider's webhooks, with their own secret",
    r"^/accounts/(login|logout)/$": "logging in and out",
    r"^/accounts/(password_reset/|password_reset/done/|reset/)": "password reset by email",
    r"^/api/(schema|docs|redoc)/": "the ingest API's OpenAPI schema and its docs (no data)",
    r"^/admin/": "Django admin: its own staff login (test below)",
}


def _is_public(route: str) -> bool:
    return any(re.search(pattern, route) for pattern in PUBLIC)


def _concrete(route: str) -> str:
    """A URL for a route: each converter filled with a value it accepts."""
    values = {"int": "1", "str": "x", "slug": "x", "path": "x", "uuid": "0" * 32}

    def fill(match: re.Match[str]) -> str:
        return values[match.group(1) or "str"]

    url = re.sub(r"<(?:(\w+):)?\w+>", fill, route)
    assert "(" not in url and "^" not in url, f"{route}: a regex route; give it a test value"
    return url


def marketer_routes() -> list[str]:
    return sorted({route for route, _ in url_patterns() if not _is_public(route)})


def test_the_walk_sees_every_app():
    routes = marketer_routes()
    for expected in ("/", "/profiles/", "/segments/", "/campaigns/", "/sources/", "/activities/"):
        assert expected in routes
    assert len(routes) > 30


@pytest.mark.parametrize("route", marketer_routes())
def test_every_marketer_page_redirects_an_anonymous_visitor_to_login(client: Client, route):
    url = _concrete(route)
    for method in (client.get, client.post):
        response = method(url)
        assert response.status_code == 302, f"{method.__name__.upper()} {url}"
        assert response["Location"].startswith("/accounts/login/?next="), url


def test_admin_needs_a_staff_user(client: Client, django_user_model):
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    client.force_login(django_user_model.objects.create_user("marketer", password="x"))
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert client.get("/admin/ingestion/source/").status_code == 302
    client.force_login(django_user_model.objects.create_user("staff", password="x", is_staff=True))
    assert client.get("/admin/").status_code == 200


def test_a_write_key_opens_no_marketer_page_nor_admin(client: Client, write_key):
    auth = {"Authorization": basic_auth(write_key.key)}
    for url in ("/", "/profiles/", "/segments/", "/sources/", f"/sources/{write_key.source_id}/"):
        response = client.get(url, headers=auth)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url
    assert client.get("/admin/", headers=auth)["Location"].startswith("/admin/login/")
    # The key as a user name and password logs nobody in.
    assert not client.login(username=write_key.key, password="")
    response = client.post("/accounts/login/", {"username": write_key.key, "password": ""})
    assert response.status_code == 200 and "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "path", ["track", "identify", "page", "screen", "group", "alias", "batch", "b", "import"]
)
def test_a_write_key_reads_nothing_from_the_ingest_api(client: Client, ingest, write_key, path):
    assert ingest("track", {"userId": "ada", "event": "Secret Viewed"}).status_code == 200
    auth = {"Authorization": basic_auth(write_key.key)}
    for method in (client.get, client.put, client.patch, client.delete):
        response = method(f"/v1/{path}", headers=auth)
        assert response.status_code == 405, f"{method.__name__} /v1/{path}"
        assert b"ada" not in response.content and b"Secret" not in response.content
    assert client.get(f"/v1/{path}?writeKey={write_key.key}").status_code == 405


def test_the_api_schema_is_public_and_holds_no_data(client: Client, ingest):
    ingest("track", {"userId": "ada", "event": "Secret Viewed"})
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"ada" not in response.content and b"Secret Viewed" not in response.content
