"""The product catalog: built from events (newest values win) and importable from CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cdp_project.access.actors import Actor
from ingestion.catalog.products import ImportRefused, parse_price, products_import_csv
from ingestion.catalog.selectors import products_by_ids
from ingestion.models import Product
from tests.ingestion.test_catalog import process, track

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def at(hours: int) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def test_products_come_from_top_level_properties_and_from_array_items(ingest):
    ingest(
        "batch",
        {
            "batch": [
                track(
                    "Product Viewed",
                    {
                        "sku": "SKU-1",
                        "product_id": "p1",
                        "name": "Trail shoe",
                        "price": 89.5,
                        "currency": "eur",
                        "image_url": "https://shop.example/1.jpg",
                        "url": "/p/1",
                        "category": "Shoes",
                        "brand": "Acme",
                    },
                ),
                track(
                    "Order Completed",
                    {
                        "order_id": "o1",
                        "currency": "USD",
                        "products": [
                            {"id": "p2", "name": "Sock", "price": "4.50"},
                            {"sku": "SKU-3", "name": "Cap", "price": 12},
                            {"name": "no id, not a product"},
                        ],
                    },
                ),
            ]
        },
    )
    process()
    products = {p.key: p for p in Product.objects.all()}
    assert set(products) == {"SKU-1", "p2", "SKU-3"}
    shoe = products["SKU-1"]
    assert (shoe.product_id, shoe.name, shoe.price, shoe.currency) == (
        "p1",
        "Trail shoe",
        Decimal("89.5"),
        "EUR",
    )
    assert (shoe.image_url, shoe.url, shoe.category, shoe.brand) == (
        "https://shop.example/1.jpg",
        "/p/1",
        "Shoes",
        "Acme",
    )
    # An item takes the order's currency; a numeric string is a price.
    assert (products["p2"].price, products["p2"].currency) == (Decimal("4.5"), "USD")


def test_newest_values_win_field_by_field_and_a_late_old_event_only_fills_blanks(ingest):
    ingest(
        "track",
        track("Product Viewed", {"sku": "S", "price": 10, "name": "Old name"}, timestamp=at(1)),
    )
    process()
    ingest("track", track("Product Viewed", {"sku": "S", "price": 12}, timestamp=at(3)))
    process()
    # Late-arriving, older than the price: its price loses; its name is newer than the
    # stored name and wins; its brand fills a blank.
    ingest(
        "track",
        track(
            "Product Viewed",
            {"sku": "S", "price": 8, "name": "Older", "brand": "Acme"},
            timestamp=at(2),
        ),
    )
    process()
    product = Product.objects.get(key="S")
    assert (product.price, product.name, product.brand) == (Decimal("12"), "Older", "Acme")
    assert product.values_at == T0 + timedelta(hours=3)


def test_within_one_batch_the_newest_event_wins(ingest):
    ingest(
        "batch",
        {
            "batch": [
                track("Product Viewed", {"sku": "S", "name": "New"}, timestamp=at(5)),
                track(
                    "Product Viewed",
                    {"sku": "S", "name": "Old", "category": "Hats"},
                    timestamp=at(1),
                ),
            ]
        },
    )
    process()
    product = Product.objects.get(key="S")
    assert (product.name, product.category) == ("New", "Hats")


def test_products_are_found_by_sku_or_product_id(ingest):
    ingest("track", track("Product Viewed", {"sku": "SKU-9", "product_id": "9", "name": "Bag"}))
    process()
    found = products_by_ids(["SKU-9", "9", "missing"])
    assert set(found) == {"SKU-9", "9"}
    assert found["9"].name == "Bag"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (19.99, Decimal("19.99")),
        ("19.99", Decimal("19.99")),
        ("19,99", Decimal("19.99")),
        ("1,299.00", Decimal("1299")),
        ("1.299,50", Decimal("1299.5")),
        ("1,234,567", Decimal("1234567")),
        ("free", None),
        (-1, None),
        (float("inf"), None),
        (True, None),
        ("NaN", None),
    ],
)
def test_prices_are_parsed_or_left_empty(value, expected):
    assert parse_price(value) == expected


CSV = (
    "SKU,Title,Price,Image,Category,Brand,Ignored\n"
    "A-1,Runner,59.90,https://shop.example/a.jpg,Shoes,Acme,x\n"
    "A-2,Walker,not a price,,Shoes,Acme,x\n"
    ",Nameless,10,,,,\n"
    "\n"
    'A-3,Sandal,"1,020.50",,Shoes,Beta,x\n'
)


def test_csv_import_stores_good_rows_and_reports_bad_ones_by_line(ingest):
    ingest("track", track("Product Viewed", {"sku": "A-1", "name": "Runner (old)", "url": "/a1"}))
    process()
    result = products_import_csv(actor=Actor.system("test"), data=CSV.encode())
    assert (result.created, result.updated, result.rows) == (1, 1, 4)
    assert result.errors == [
        (3, "The price 'not a price' is not a number."),
        (4, "The row has neither a SKU nor a product id."),
    ]
    runner = Product.objects.get(key="A-1")
    # Imported values are the newest; fields the file lacks keep what events said.
    assert (runner.name, runner.price, runner.url, runner.image_url) == (
        "Runner",
        Decimal("59.9"),
        "/a1",
        "https://shop.example/a.jpg",
    )
    assert Product.objects.get(key="A-3").price == Decimal("1020.5")
    assert not Product.objects.filter(key="A-2").exists()


def test_csv_with_semicolons_and_a_byte_order_mark_is_read():
    data = "\ufeffproduct_id;name;price\n7;Scarf;15\n".encode()
    result = products_import_csv(actor=Actor.system("test"), data=data)
    assert result.created == 1
    assert Product.objects.get(key="7").name == "Scarf"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"name,price\nShoe,10\n", "needs a `sku` or a `product_id` column"),
        ("sku,name\nA,caf\xe9\n".encode("latin-1"), "not UTF-8"),
        (b"sku\x00,name\n", "NUL"),
    ],
)
def test_an_unreadable_csv_is_refused_whole_with_a_clear_reason(data, message):
    with pytest.raises(ImportRefused, match=message):
        products_import_csv(actor=Actor.system("test"), data=data)
    assert not Product.objects.exists()


def test_newest_wins_per_field_even_within_one_batch_mixing_old_and_new(ingest):
    ingest("track", track("Product Viewed", {"sku": "S", "price": 20}, timestamp=at(7)))
    process()
    ingest(
        "batch",
        {
            "batch": [
                track("Product Viewed", {"sku": "S", "price": 10}, timestamp=at(5)),
                track("Product Viewed", {"sku": "S", "name": "Hat"}, timestamp=at(10)),
            ]
        },
    )
    process()
    product = Product.objects.get(key="S")
    assert (product.price, product.name) == (Decimal("20"), "Hat")
    # A newer price still wins though the name was updated later than it.
    ingest("track", track("Product Viewed", {"sku": "S", "price": 25}, timestamp=at(8)))
    process()
    assert Product.objects.get(key="S").price == Decimal("25")


def test_only_web_addresses_are_kept_as_product_links(ingest):
    ingest(
        "track",
        track(
            "Product Viewed",
            {"sku": "X", "url": "javascript:alert(document.cookie)", "image_url": "/img/x.jpg"},
        ),
    )
    process()
    product = Product.objects.get(key="X")
    assert (product.url, product.image_url) == ("", "/img/x.jpg")
