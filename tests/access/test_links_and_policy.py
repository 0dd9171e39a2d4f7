"""Event values never become script links; every page carries the Content-Security-Policy."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from cdp_project.access.links import web_url

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "value",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "\x00javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example.com/x",
        "/\\evil.example.com",
        "https:",
        "",
        None,
        42,
    ],
)
def test_only_web_addresses_become_links(value):
    assert web_url(value) == ""


@pytest.mark.parametrize(
    "value", ["https://shop.example.com/p/1?x=<b>", "http://localhost:8000/shop/", "/shop/p/1"]
)
def test_web_addresses_are_kept(value):
    assert web_url(value) == value


def test_email_content_keeps_no_script_link():
    from campaigns.content import _item  # the item dict templates see

    item = _item(
        "SKU-1",
        {"name": "Shoe", "url": "javascript:alert(1)", "image_url": "data:image/svg+xml,<svg>"},
        None,
    )
    assert item["url"] == "" and item["image_url"] == ""


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part for part in (p.strip() for p in header.split(";")) if part}


def test_marketer_pages_allow_no_inline_script(client: Client, django_user_model):
    client.force_login(django_user_model.objects.create_user("marketer", password="x"))
    response = client.get("/")
    policy = _policy(response)
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["object-src"] == "object-src 'none'"
    assert "frame-ancestors" in policy and "form-action" in policy
    html = response.content.decode()
    # No inline script, no event handler attribute, in the layout.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_the_shop_runs_its_tracker_snippet_by_nonce(client: Client):
    response = client.get("/shop/")
    assert response.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", _policy(response)["script-src"]).group(1)
    assert f'<script nonce="{nonce}">' in response.content.decode()
    # A fresh nonce each time.
    assert nonce not in client.get("/shop/")["Content-Security-Policy"]


def test_the_ingest_api_answers_json_that_no_browser_renders_without_a_policy(ingest):
    response = ingest("track", {"userId": "u1", "event": "Product Viewed"})
    assert response.status_code == 200
    # No page to protect: the answer is JSON, and browsers are told not to sniff it.
    assert "Content-Security-Policy" not in response
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
