"""The demo store: realistic shoppers played through the real HTTP API."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from cdp_project.access.actors import Actor
from cdp_project.devtools.demo_store import StoreSimulation
from ingestion import services
from ingestion.models import Activity, Event, Product
from profiles.models import Order, Profile, ProfileMerge

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_the_store_plays_personas_with_multi_item_orders_and_never_the_future():
    simulation = StoreSimulation(shoppers=150, days=60, now=NOW)
    messages = list(simulation.history())
    times = [datetime.fromisoformat(m["timestamp"]) for m in messages]
    assert times == sorted(times)
    assert max(times) <= NOW and min(times) >= NOW - timedelta(days=60)
    assert len({m["messageId"] for m in messages}) == len(messages)

    events = Counter(m.get("event", m["type"]) for m in messages)
    for name in (
        "page",
        "identify",
        "Product List Viewed",
        "Product Viewed",
        "Product Added",
        "Product Removed",
        "Cart Viewed",
        "Checkout Started",
        "Order Completed",
    ):
        assert events[name] > 0, name
    orders = [m for m in messages if m.get("event") == "Order Completed"]
    assert any(len(m["properties"]["products"]) > 1 for m in orders)
    buyers = Counter(m["userId"] for m in orders)
    assert max(buyers.values()) >= 3 and min(buyers.values()) == 1  # repeat and one-time
    # Some visits happen in the last hour, at their real time.
    assert any(t > NOW - timedelta(hours=1) for t in times)
    # Played again with the same seed, it is the same traffic.
    again = list(StoreSimulation(shoppers=150, days=60, now=NOW).history())
    assert [m["messageId"] for m in again] == [m["messageId"] for m in messages]


@pytest.mark.django_db(transaction=True)
def test_simulate_store_fills_the_catalog_and_profiles_through_the_api(live_server):
    source = services.source_create(actor=Actor.system("test"), name="Demo store")
    out = StringIO()
    call_command("simulate_store", "--url", live_server.url, "--shoppers", "60", stdout=out)
    stored = Event.objects.filter(source=source).count()
    assert stored > 500
    assert f"{stored:,} stored" in out.getvalue()

    again = StringIO()
    call_command("simulate_store", "--url", live_server.url, "--shoppers", "60", stdout=again)
    assert Event.objects.count() == stored
    assert "0 stored" in again.getvalue()

    ids = list(Event.objects.values_list("pk", flat=True))
    for start in range(0, len(ids), 500):
        services.events_process(event_ids=ids[start : start + 500])

    assert Activity.objects.get(name="Order Completed").role == "order_completed"
    assert Product.objects.count() > 50
    assert Product.objects.exclude(image_url="").exists()
    customers = Profile.objects.filter(orders_count__gt=0)
    assert customers.filter(orders_count__gte=2).exists()
    assert customers.filter(orders_count=1).exists()
    assert Order.objects.count() >= customers.count()
    assert Profile.objects.filter(email_consent="granted").exists()
    assert Profile.objects.exclude(preferences={}).exists()
    # Shoppers on two devices became one person when they logged in.
    assert ProfileMerge.objects.exists()


def test_each_live_run_sends_new_people_and_messages_and_logins_come_first():
    def live_messages(seconds: int) -> list[dict]:
        simulation = StoreSimulation(shoppers=0, days=1)
        messages: list[dict] = []
        for tick, due in enumerate(simulation.live(sessions_per_minute=900)):
            messages += due
            if tick >= seconds:
                return messages
        return messages

    first, second = live_messages(3), live_messages(3)
    assert first and second
    assert not {m["messageId"] for m in first} & {m["messageId"] for m in second}
    users = {m.get("userId") for m in first} | {m.get("anonymousId") for m in first}
    assert not users & (
        {m.get("userId") for m in second} | {m.get("anonymousId") for m in second}
    ) - {None}
    # A device sends a user id only after that person logged in on it.
    logged_in: set[tuple[str, str]] = set()
    for message in first + second:
        if message["type"] == "identify":
            logged_in.add((message["anonymousId"], message["userId"]))
        elif "userId" in message:
            assert (message["anonymousId"], message["userId"]) in logged_in
