"""The demo storefront's pages, as a shopper's browser gets them (the browser tests in
tests/e2e/test_storefront.py shop in them)."""

from __future__ import annotations

import json
import re

import pytest

from campaigns.models import Campaign
from cdp_project.access.actors import Actor
from cdp_project.devtools.storefront import STOREFRONT_SOURCE, storefront_write_key
from ingestion import services
from ingestion.models import Source, WriteKey

pytestmark = pytest.mark.django_db


def json_script(html: str, element_id: str):
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html)
    assert match, element_id
    return json.loads(match.group(1))


def test_every_page_loads_the_tracker_with_the_storefront_key(client):
    for path in ["/shop/", "/shop/hats/", "/shop/products/DEMO-0001/", "/shop/cart/",
                 "/shop/checkout/", "/shop/login/"]:  # fmt: skip
        response = client.get(path)
        assert response.status_code == 200, path
        key = storefront_write_key()
        assert f'a.load("{key.key}",{{"host":"http://testserver"}})' in response.content.decode()
    source = Source.objects.get(name=STOREFRONT_SOURCE)
    assert source.kind == Source.Kind.WEB
    assert WriteKey.objects.filter(source=source).count() == 1


def test_a_product_page_carries_the_product_as_the_events_describe_it(client):
    html = client.get("/shop/products/DEMO-0002/").content.decode()
    product = json_script(html, "product-data")
    assert product["sku"] == "DEMO-0002"
    assert product["category"] == "Hiking boots"
    assert product["url"] == "http://testserver/shop/products/DEMO-0002/"
    assert product["image_url"] == "http://testserver/static/demo/hiking-boots.svg"
    assert product["name"] in html and f"{product['price']:.2f}" in html


def test_a_category_page_lists_its_products_for_product_list_viewed(client):
    html = client.get("/shop/socks/").content.decode()
    listed = json_script(html, "list-event")
    assert listed["category"] == "Socks" and listed["list_id"] == "socks"
    assert len(listed["products"]) == 30
    assert {p["category"] for p in listed["products"]} == {"Socks"}
    assert [p["position"] for p in listed["products"][:3]] == [1, 2, 3]


def test_unknown_products_and_categories_are_not_found(client):
    assert client.get("/shop/products/NOPE/").status_code == 404
    assert client.get("/shop/surfboards/").status_code == 404


def test_a_revoked_storefront_key_is_replaced(client):
    key = storefront_write_key()
    services.write_key_revoke(actor=Actor.system("test"), write_key=key)
    html = client.get("/shop/").content.decode()
    fresh = storefront_write_key()
    assert fresh.pk != key.pk and fresh.key in html and key.key not in html


def test_the_storefront_can_be_turned_off(client, settings):
    settings.STOREFRONT_ENABLED = False
    assert client.get("/shop/").status_code == 404
    assert not Source.objects.filter(name=STOREFRONT_SOURCE).exists()


def test_consent_mode_asks_first(client, settings):
    settings.STOREFRONT_CONSENT_REQUIRED = True
    html = client.get("/shop/").content.decode()
    assert '"consentRequired":true' in html
    assert 'data-consent-required="true"' in html


def test_the_marketer_ui_links_to_the_shop(admin_client, settings):
    assert 'href="/shop/"' in admin_client.get("/").content.decode()
    settings.STOREFRONT_ENABLED = False
    assert 'href="/shop/"' not in admin_client.get("/").content.decode()


def test_the_thank_you_says_where_the_confirmation_goes_as_the_campaign_stands(client):
    confirmation = Campaign.objects.get(kind="order_confirmation")
    assert "Order confirmation → Activate" in client.get("/shop/checkout/").content.decode()
    confirmation.status = "active"
    confirmation.save(update_fields=["status"])
    page = client.get("/shop/checkout/").content.decode()
    assert "within seconds" in page and "→ Activate" not in page
