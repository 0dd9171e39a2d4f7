"""The ready-to-paste code on an activity's page."""

from __future__ import annotations

import json

from ingestion.catalog.snippets import activity_snippets, example_payload
from ingestion.models import Activity, ActivityProperty


def field(path: str, kind: str, examples=(), personal: bool = False) -> ActivityProperty:
    counts = {f"{kind}_count": 1}
    return ActivityProperty(path=path, examples=list(examples), personal=personal, **counts)


FIELDS = [
    field("order_id", "string", ["o-7"]),
    field("phone", "string", ["•••••••78"]),
    field("shipping", "object"),
    field("shipping.address", "object"),
    field("shipping.address.city", "string", ["Lyon"]),
    field("products", "array"),
    field("products[]", "object"),
    field("products[].sku", "string", ["SKU-1"]),
    field("products[].price", "number", ["4.50", 12.5]),  # a drifted value is skipped
    field("tags", "array"),
    field("tags[]", "string", ["new"]),
    field("email", "string", personal=True),
    field("a\\.b", "boolean", [True]),
]


def test_example_payload_rebuilds_nesting_and_arrays_from_paths():
    assert example_payload(FIELDS) == {
        "a.b": True,
        "email": "…",
        "order_id": "o-7",
        "phone": "text",
        "products": [{"price": 12.5, "sku": "SKU-1"}],
        "shipping": {"address": {"city": "Lyon"}},
        "tags": ["new"],
    }


def test_snippets_send_the_activity_with_its_properties():
    activity = Activity(kind="track", name="Order Completed")
    snippets = activity_snippets(
        activity=activity, fields=FIELDS, base_url="http://cdp.test", write_key="KEY"
    )
    assert snippets["web"].startswith('analytics.track("Order Completed", {')
    assert "analytics.write_key = 'KEY'" in snippets["python"]
    assert "'Order Completed'" in snippets["python"]
    assert "{'price': 12.5, 'sku': 'SKU-1'}" in snippets["python"].replace("\n", "")
    assert snippets["curl"].startswith("curl http://cdp.test/v1/track")
    body = json.loads(snippets["curl"].split("-d '", 1)[1].rstrip("'"))
    assert body["event"] == "Order Completed"
    assert body["properties"]["products"][0]["sku"] == "SKU-1"
