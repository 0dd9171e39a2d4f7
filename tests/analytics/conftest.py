"""A small fixed store for the analytics figures, sent through the ingest API and processed
as the worker would, at a frozen time, so every figure can be computed by hand.

Now is Wednesday 2026-06-10 12:30 UTC (site time zone UTC). Two sources:

- Ada (user, Web): viewed 10:30, added 10:40, checkout 10:50, ordered O-1 (100) 11:00;
  an earlier order O-0 (40) on 20 May.
- Bob: anonymous `anon-bob` on the App viewed 9 Jun 09:15 and added 09:20; on the Web he
  identifies as `bob` 10 Jun 08:00, starts checkout 08:05, orders O-2 (50) 08:10, and 20 of
  it is refunded 09:00.
- Cy (anonymous, Web): viewed 11:05, nothing else.
- Dee (user, App): added 07:00 *before* viewing 07:30, ordered O-3 (30) 07:45 without a
  checkout.
- Eve (user, Web): orders O-4 (25) 19 May, O-5 (35) 26 May, O-6 (60) 2 Jun, cancelled at
  11:00 that day.
- Frank (user, Web): order O-7 (10) 27 May, cancelled at 11:00.
- Gus (user, Web): identified 1 Apr, a page view 8 Jun 10:00.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.models import Source
from ingestion.rollups import event_hours_refresh
from profiles.computed import profiles_rfm_refresh
from tests.conftest import basic_auth, process_stored

NOW = datetime(2026, 6, 10, 12, 30, tzinfo=UTC)


def at(text: str) -> str:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat()


def track(who: dict, event: str, when: str, **properties) -> dict:
    return {"type": "track", "event": event, "timestamp": at(when), "properties": properties, **who}


ADA = {"userId": "ada"}
BOB_ANON = {"anonymousId": "anon-bob"}
BOB = {"userId": "bob"}
CY = {"anonymousId": "anon-cy"}
DEE = {"userId": "dee"}
EVE = {"userId": "eve"}
FRANK = {"userId": "frank"}
GUS = {"userId": "gus"}

WEB_EVENTS = [
    track(ADA, "Order Completed", "2026-05-20 10:00", order_id="O-0", total=40),
    track(ADA, "Product Viewed", "2026-06-10 10:30", sku="SKU-1"),
    track(ADA, "Product Added", "2026-06-10 10:40", sku="SKU-1"),
    track(ADA, "Checkout Started", "2026-06-10 10:50"),
    track(ADA, "Order Completed", "2026-06-10 11:00", order_id="O-1", total=100),
    {"type": "identify", "userId": "bob", "anonymousId": "anon-bob",
     "timestamp": at("2026-06-10 08:00"), "traits": {"name": "Bob"}},
    track(BOB, "Checkout Started", "2026-06-10 08:05"),
    track(BOB, "Order Completed", "2026-06-10 08:10", order_id="O-2", total=50),
    track(BOB, "Order Refunded", "2026-06-10 09:00", order_id="O-2", total=20),
    track(CY, "Product Viewed", "2026-06-10 11:05", sku="SKU-2"),
    track(EVE, "Order Completed", "2026-05-19 10:00", order_id="O-4", total=25),
    track(EVE, "Order Completed", "2026-05-26 10:00", order_id="O-5", total=35),
    track(EVE, "Order Completed", "2026-06-02 10:00", order_id="O-6", total=60),
    track(EVE, "Order Cancelled", "2026-06-02 11:00", order_id="O-6"),
    track(FRANK, "Order Completed", "2026-05-27 10:00", order_id="O-7", total=10),
    track(FRANK, "Order Cancelled", "2026-05-27 11:00", order_id="O-7"),
    {"type": "identify", "userId": "gus", "timestamp": at("2026-04-01 10:00"), "traits": {}},
    {"type": "page", "userId": "gus", "name": "Home", "timestamp": at("2026-06-08 10:00")},
]  # fmt: skip

APP_EVENTS = [
    track(BOB_ANON, "Product Viewed", "2026-06-09 09:15", sku="SKU-1"),
    track(BOB_ANON, "Product Added", "2026-06-09 09:20", sku="SKU-1"),
    track(DEE, "Product Added", "2026-06-10 07:00", sku="SKU-3"),
    track(DEE, "Product Viewed", "2026-06-10 07:30", sku="SKU-3"),
    track(DEE, "Order Completed", "2026-06-10 07:45", order_id="O-3", total=30),
]


def send(client: Client, source: Source, events: list[dict]) -> None:
    batch = [{"messageId": f"{source.name}-{n}", **event} for n, event in enumerate(events)]
    response = client.post(
        "/v1/batch",
        data=json.dumps({"batch": batch}),
        content_type="application/json",
        headers={"Authorization": basic_auth(source.write_keys.get().key)},
    )
    assert response.status_code == 200, response.content
    assert response.json()["refused"] == []


@pytest.fixture
def clock():
    with time_machine.travel(NOW - timedelta(minutes=10), tick=False) as traveller:
        yield traveller


@pytest.fixture
def store(db, clock) -> dict[str, Source]:
    """The store above, stored ten minutes before now, processed, counted by the hourly
    rollup and RFM-scored at now."""
    web = services.source_create(actor=Actor.system("test"), name="Web", kind=Source.Kind.WEB)
    app = services.source_create(actor=Actor.system("test"), name="App", kind=Source.Kind.MOBILE)
    client = Client()
    # The app's anonymous events first, so Bob's identify on the web links them.
    send(client, app, APP_EVENTS)
    send(client, web, WEB_EVENTS)
    process_stored()
    clock.move_to(NOW)
    assert event_hours_refresh() == len(WEB_EVENTS) + len(APP_EVENTS)
    profiles_rfm_refresh()
    return {"web": web, "app": app}
