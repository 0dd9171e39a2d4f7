"""The official server SDKs, unchanged but for the host, against a live server."""

from __future__ import annotations

import pytest
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient
from segment.analytics.request import APIError

from cdp_project.access.actors import Actor
from ingestion.models import Event

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCTS = [
    {"sku": "SHOE-1", "name": "Trail shoe", "price": 89.9, "quantity": 1, "category": "Shoes"},
    {"sku": "SOCK-2", "name": "Wool socks", "price": 12.5, "quantity": 2, "category": "Socks"},
]


def _send_all(client) -> list[Exception]:
    client.identify("user-42", {"email": "ada@example.com", "first_name": "Ada"})
    client.track(
        "user-42",
        "Order Completed",
        {"order_id": "O-1", "total": 114.9, "currency": "EUR", "products": PRODUCTS},
    )
    client.page("user-42", category="Shop", name="Shoes", properties={"url": "/shoes"})
    client.flush()
    return []


def _assert_stored(source) -> None:
    events = {event.type: event for event in Event.objects.filter(source=source)}
    assert set(events) == {"identify", "track", "page"}
    assert events["identify"].traits["email"] == "ada@example.com"
    order = events["track"]
    assert order.name == "Order Completed"
    assert order.properties["products"] == PRODUCTS
    assert order.user_id == "user-42"
    assert order.sent_at is not None
    assert events["page"].name == "Shoes"
    assert events["page"].properties["url"] == "/shoes"


@pytest.mark.parametrize("gzip", [False, True])
def test_segment_python_sdk_sends_track_identify_and_page(live_server, source, write_key, gzip):
    errors: list = []
    client = SegmentClient(
        write_key.key,
        host=live_server.url,
        sync_mode=True,
        gzip=gzip,
        max_retries=0,
        on_error=lambda error, batch: errors.append(error),
    )
    _send_all(client)

    assert errors == []
    _assert_stored(source)
    library = Event.objects.filter(source=source).first().context["library"]
    assert library["name"] == "analytics-python"


def test_rudderstack_python_sdk_sends_gzip_by_default(live_server, source, write_key):
    errors: list = []
    client = RudderClient(
        write_key.key,
        host=live_server.url,
        sync_mode=True,
        max_retries=0,
        on_error=lambda error, batch: errors.append(error),
    )
    _send_all(client)

    assert errors == []
    _assert_stored(source)


def test_segment_sdk_reports_a_revoked_key(live_server, source, write_key):
    from ingestion.services import write_key_revoke

    write_key_revoke(actor=Actor.system("test"), write_key=write_key)
    client = SegmentClient(write_key.key, host=live_server.url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as error:
        client.track("user-42", "Product Viewed")

    assert error.value.status == 401
    assert error.value.code == "invalid_write_key"
    assert not Event.objects.exists()
