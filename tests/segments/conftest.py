"""A small hand-made store for segment tests: ten people with distinct traits, consent and
orders, and events of several activities from two sources, sent through the real ingest
pipeline so the catalog knows every activity, property and trait with its type.

`store` builds it once per test module inside a transaction that is rolled back when the
module ends; each test runs in a savepoint of it (the usual `db` fixture), so tests may
write. Tests that need a transactional database (a live server, a browser) call
`store_build()` themselves instead.

Who is who (times are before the moment the store is built; "web" and "server" are the two
sources):

- Ada: plan Gold, age 36, vip, Lyon, tags vip and newsletter, email granted, sms withdrawn.
  Newsletter 10 min ago; viewed Shoes 60 (1 d), Bags 30 (2 d) and Hats "12" (20 d) on web;
  added 2 Shoes (1 d); ordered Shoes 30 + Bags 80 (5 d, delivery date "2026-02-31");
  logged in 5 d ago.
- Bob: plan gold, age 41, not vip, Paris, tags newsletter, email withdrawn. Newsletter 50 min;
  viewed Shoes priced "abc" (3 d) on server; ordered shoes 60 (3 d); logged in 45 d and 5 d.
- Cleo: plan Rose Gold, age 25, vip, lyon, tags VIP, sms granted. Newsletter 5 h; viewed
  Shoes 80 by Acme (4 d, web) and Socks 15 (6 d, server); ordered Shoes 55 (40 d) and Hats 20
  (2 d); logged in 45 d ago.
- Dan: plan Silver, age 41.5, an address without a city, no tags. Newsletter 3 d; ordered
  Bags priced "90" (20 d); logged in 100 d ago.
- Eve: age 60, signed up 400 d ago. Newsletter 10 d; three orders of 50 (100, 200, 300 d);
  logged in 100 d and 10 d ago.
- Finn: age "41" (a number sent as a string). Newsletter 40 d; a page view (1 d).
- Gus: Newsletter 400 d; added Hats (3 d).
- Hana: "Add To Basket" 3 Shoes (2 d), an activity the marketer gave the product_added role.
- Ivy: only identified.
- Anon: an anonymous visitor with a page view (2 h).

Segments: "Gold plan" (plan is gold: Ada, Bob), "Lyon" (city is Lyon: Ada, Cleo) and
"Gold in Lyon" (in both: Ada).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from cdp_project.access.actors import Actor
from ingestion import services
from ingestion.catalog.discovery import forget_known_paths
from ingestion.catalog.services import activity_update, field_update
from ingestion.messages import BatchContext
from ingestion.models import Activity, CommerceRole, ProfileAttribute, Source
from profiles.computed import profiles_rfm_refresh
from profiles.models import Identity, Profile
from tests.conftest import process_stored

PEOPLE = ["Ada", "Bob", "Cleo", "Dan", "Eve", "Finn", "Gus", "Hana", "Ivy", "Anon"]

# --- condition builders ------------------------------------------------------------------------


def group(*conditions: dict, match: str = "all", negate: bool = False) -> dict:
    return {"kind": "group", "match": match, "negate": negate, "conditions": list(conditions)}


def attribute(
    scope: str, path: str, operator: str, value: Any = None, value2: Any = None, **extra
) -> dict:
    node = {"kind": "attribute", "negate": extra.pop("negate", False), "scope": scope}
    node.update(path=path, operator=operator)
    if value is not None:
        node["value"] = value
    if value2 is not None:
        node["value2"] = value2
    return node


def trait(path: str, operator: str, value: Any = None, value2: Any = None, **extra) -> dict:
    return attribute("trait", path, operator, value, value2, **extra)


def computed(path: str, operator: str, value: Any = None, value2: Any = None, **extra) -> dict:
    return attribute("computed", path, operator, value, value2, **extra)


def track(name: str) -> dict:
    return {"kind": "track", "name": name}


def role(name: str) -> dict:
    return {"role": name}


def last(amount: int, unit: str = "days") -> dict:
    return {"type": "last", "amount": amount, "unit": unit}


EVER = {"type": "ever"}


def between(start: str, end: str) -> dict:
    return {"type": "between", "start": start, "end": end}


def where(path: str, operator: str, value: Any = None, value2: Any = None) -> dict:
    item: dict[str, Any] = {"path": path, "operator": operator}
    if value is not None:
        item["value"] = value
    if value2 is not None:
        item["value2"] = value2
    return item


def did(
    activity: dict | str,
    *,
    count: tuple[str, int] = ("at_least", 1),
    window: dict | None = None,
    filters: Iterable[dict] = (),
    sources: Iterable[int] = (),
    negate: bool = False,
) -> dict:
    """A behaviour condition; a bare name is a track activity; the window defaults to ever."""
    return {
        "kind": "behaviour",
        "negate": negate,
        "activity": track(activity) if isinstance(activity, str) else activity,
        "count": {"operator": count[0], "value": count[1]},
        "window": window or EVER,
        "where": list(filters),
        "sources": list(sources),
    }


def lifecycle(
    change: str,
    activity: dict | str,
    *,
    window: dict | None = None,
    filters: Iterable[dict] = (),
    sources: Iterable[int] = (),
    negate: bool = False,
) -> dict:
    return {
        "kind": "lifecycle",
        "negate": negate,
        "change": change,
        "activity": track(activity) if isinstance(activity, str) else activity,
        "window": window or last(30),
        "where": list(filters),
        "sources": list(sources),
    }


def consent(channel: str, state: str, *, negate: bool = False) -> dict:
    return {"kind": "consent", "negate": negate, "channel": channel, "state": state}


def in_segment(segment_id: int, *, negate: bool = False) -> dict:
    return {"kind": "segment", "negate": negate, "segment": segment_id}


def negated(node: dict) -> dict:
    return {**node, "negate": not node.get("negate", False)}


# --- the store ---------------------------------------------------------------------------------


@dataclass
class Store:
    now: datetime
    web: Source
    server: Source
    # Person name → profile id, and back.
    people: dict[str, int] = field(default_factory=dict)
    segments: dict[str, Any] = field(default_factory=dict)

    @property
    def everyone(self) -> set[str]:
        return set(self.people)

    def others(self, *names: str) -> set[str]:
        """Everyone but the people named."""
        unknown = set(names) - self.everyone
        assert not unknown, f"not in the store: {unknown}"
        return self.everyone - set(names)

    def ago(self, days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
        return self.now - timedelta(days=days, hours=hours, minutes=minutes)

    def day(self, days_ago: float) -> str:
        """The date `days_ago` days before the store was built, as YYYY-MM-DD."""
        return self.ago(days=days_ago).date().isoformat()

    def names_of(self, profile_ids: Iterable[int]) -> set[str]:
        by_id = {pk: name for name, pk in self.people.items()}
        return {by_id.get(pk, f"#{pk}") for pk in profile_ids}

    def profile(self, name: str) -> Profile:
        return Profile.objects.get(pk=self.people[name])

    def members(self, tree: dict, *, segment_id: int | None = None) -> set[str]:
        """The people a definition selects: cleaned, compiled and run."""
        from segments.compiler import segment_profiles
        from segments.definition import definition_clean
        from segments.tree import tree_from_json, tree_to_json

        wrapped = tree if tree.get("kind") == "group" else group(tree)
        clean = definition_clean(wrapped, segment_id=segment_id)
        # Every example of the segment tests goes through the typed tree and back unchanged.
        assert tree_to_json(tree_from_json(clean)) == clean
        return self.names_of(segment_profiles(clean).values_list("pk", flat=True))


def ingest_messages(source: Source, messages: list[dict], now: datetime) -> None:
    """Store Segment-spec messages from a source, as the ingest API does, and process them."""
    result = services.events_ingest(
        source=source, messages=messages, batch=BatchContext(received_at=now)
    )
    assert not result.refused, [refusal.as_dict() for refusal in result.refused]
    process_stored()


def store_build(*, now: datetime | None = None) -> Store:
    """Ingest the store described in this module's docstring and process it."""
    from segments.definition import definition_clean
    from segments.models import Segment

    now = (now or timezone.now()).replace(microsecond=0)

    def at(days: float = 0, hours: float = 0, minutes: float = 0) -> str:
        return (now - timedelta(days=days, hours=hours, minutes=minutes)).isoformat()

    def user(name: str) -> dict:
        return {"userId": f"u-{name.lower()}"} if name != "Anon" else {"anonymousId": "anon-1"}

    def event(name: str, activity: str, properties: dict, when: str) -> dict:
        return {
            "type": "track",
            **user(name),
            "event": activity,
            "properties": properties,
            "timestamp": when,
        }

    def page(name: str, when: str) -> dict:
        return {"type": "page", **user(name), "name": "Home", "timestamp": when}

    def item(sku: str, category: str, price: Any, **extra) -> dict:
        return {"sku": sku, "category": category, "price": price, **extra}

    def order(order_id: str, total: float, products: list[dict] | None = None, **extra) -> dict:
        return {"order_id": order_id, "total": total, "products": products or [], **extra}

    web = services.source_create(actor=Actor.system("test"), name="Web shop", kind=Source.Kind.WEB)
    server = services.source_create(
        actor=Actor.system("test"), name="Store API", kind=Source.Kind.SERVER
    )

    traits: dict[str, dict[str, Any]] = {
        "Ada": {
            "email": "ada@example.com",
            "plan": "Gold",
            "nickname": "ada_l",
            "age": 36,
            "vip": True,
            "signed_up_at": at(days=2),
            "address": {"city": "Lyon", "zip": "69001"},
            "tags": ["vip", "newsletter"],
            "customer_code": 1001,
            "email_opt_in": True,
            "sms_opt_in": False,
        },
        "Bob": {
            "email": "bob@example.org",
            "plan": "gold",
            "nickname": "bobby",
            "age": 41,
            "vip": False,
            "signed_up_at": at(days=10),
            "address": {"city": "Paris"},
            "tags": ["newsletter"],
            "customer_code": "A-7",
            "email_opt_in": False,
        },
        "Cleo": {
            "email": "cleo@example.com",
            "plan": "Rose Gold",
            "nickname": "100%",
            "age": 25,
            "vip": True,
            "signed_up_at": "2020-01-15",
            "address": {"city": "lyon"},
            "tags": ["VIP"],
            "customer_code": 1002,
            "sms_opt_in": "yes",
        },
        "Dan": {"plan": "Silver", "age": 41.5, "address": {"zip": "75001"}, "tags": []},
        "Eve": {"age": 60, "signed_up_at": at(days=400)},
        "Finn": {"age": "41"},
        "Gus": {},
        "Hana": {},
        "Ivy": {},
    }
    identifies = [
        {
            "type": "identify",
            **user(name),
            "traits": {"name": name, **values},
            "timestamp": at(days=50),
        }
        for name, values in traits.items()
    ]
    ingest_messages(server, identifies, now)

    opened = [
        ("Ada", at(minutes=10)),
        ("Bob", at(minutes=50)),
        ("Cleo", at(hours=5)),
        ("Dan", at(days=3)),
        ("Eve", at(days=10)),
        ("Finn", at(days=40)),
        ("Gus", at(days=400)),
    ]
    server_events = [
        event(name, "Newsletter Opened", {"campaign": f"Issue {n}"}, when)
        for n, (name, when) in enumerate(opened)
    ]
    server_events += [
        event("Bob", "Product Viewed", item("S2", "Shoes", "abc"), at(days=3)),
        event("Cleo", "Product Viewed", item("K1", "Socks", 15), at(days=6)),
        event(
            "Ada",
            "Order Completed",
            order(
                "A-1",
                110,
                [item("S1", "Shoes", 30), item("B1", "Bags", 80)],
                coupon="SPRING",
                gift=True,
                delivery_date="2026-02-31",
            ),
            at(days=5),
        ),
        event(
            "Bob",
            "Order Completed",
            order(
                "B-1",
                60,
                [item("S2", "shoes", 60)],
                coupon="spring10",
                gift=False,
                delivery_date=at(days=1),
            ),
            at(days=3),
        ),
        event(
            "Cleo",
            "Order Completed",
            order("C-1", 55, [item("S3", "Shoes", 55)], delivery_date="2020-03-01"),
            at(days=40),
        ),
        event("Cleo", "Order Completed", order("C-2", 20, [item("H1", "Hats", 20)]), at(days=2)),
        event(
            "Dan",
            "Order Completed",
            order(
                "D-1",
                90,
                [item("B2", "Bags", "90")],
                coupon="AUTUMN",
                gift=True,
                delivery_date=at(days=15),
            ),
            at(days=20),
        ),
        *[
            event("Eve", "Order Completed", order(f"E-{n}", 50), at(days=100 * n))
            for n in (1, 2, 3)
        ],
    ]
    ingest_messages(server, server_events, now)

    logins = [
        ("Ada", 5, "google"),
        ("Bob", 45, "password"),
        ("Bob", 5, "google"),
        ("Cleo", 45, "password"),
        ("Dan", 100, "password"),
        ("Eve", 100, "password"),
        ("Eve", 10, "google"),
    ]
    web_events = [
        event(name, "Logged In", {"method": method}, at(days=days)) for name, days, method in logins
    ]
    web_events += [
        event("Ada", "Product Viewed", item("S1", "Shoes", 60), at(days=1)),
        event("Ada", "Product Viewed", item("B1", "Bags", 30), at(days=2)),
        event("Ada", "Product Viewed", item("H1", "Hats", "12"), at(days=20)),
        event("Cleo", "Product Viewed", item("S3", "Shoes", 80, brand="Acme"), at(days=4)),
        event("Ada", "Product Added", item("S1", "Shoes", 60, quantity=2), at(days=1)),
        event("Gus", "Product Added", item("H2", "Hats", 25, quantity=1), at(days=3)),
        event("Hana", "Add To Basket", item("S4", "Shoes", 45, quantity=3), at(days=2)),
        page("Finn", at(days=1)),
        page("Anon", at(hours=2)),
    ]
    ingest_messages(web, web_events, now)

    # What a marketer does in the catalog: map a site's own name to a commerce role, and pin
    # the type of a trait whose values disagree.
    basket = Activity.objects.get(kind="track", name="Add To Basket")
    activity_update(
        actor=Actor.system("test"),
        activity=basket,
        display_name="",
        description="",
        role=CommerceRole.PRODUCT_ADDED,
        status=basket.status,
        engagement_points=basket.engagement_points,
    )
    code = ProfileAttribute.objects.get(path="customer_code")
    field_update(
        actor=Actor.system("test"),
        field=code,
        display_name="",
        description="",
        personal=False,
        pinned_type="string",
    )
    profiles_rfm_refresh(now=now)

    store = Store(now=now, web=web, server=server)
    for identity in Identity.objects.filter(namespace="user_id"):
        name = identity.value.removeprefix("u-").capitalize()
        store.people[name] = identity.profile_id
    store.people["Anon"] = Identity.objects.get(namespace="anonymous_id", value="anon-1").profile_id
    assert sorted(store.people) == sorted(PEOPLE), store.people
    assert Profile.objects.count() == len(PEOPLE)

    def saved(name: str, tree: dict) -> Segment:
        return Segment.objects.create(name=name, definition=definition_clean(tree))

    gold = saved("Gold plan", group(trait("plan", "equals", "gold")))
    lyon = saved("Lyon", group(trait("address.city", "equals", "Lyon")))
    both = saved("Gold in Lyon", group(in_segment(gold.pk), in_segment(lyon.pk)))
    store.segments = {"gold": gold, "lyon": lyon, "gold_in_lyon": both}
    return store


@pytest.fixture(scope="module")
def store(django_db_setup, django_db_blocker) -> Iterator[Store]:
    """The store, built once for the test module and rolled back after it. Request it with
    the `db` fixture (or `pytest.mark.django_db`), never with `transactional_db`."""
    with django_db_blocker.unblock():
        forget_known_paths()
        atomic = transaction.atomic()
        # Marked as Django's TestCase marks its own: the actions the store is built with are
        # durable, and run inside it as inside a test's transaction.
        atomic._from_testcase = True
        atomic.__enter__()
        try:
            built = store_build()
        except BaseException:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            raise
    try:
        yield built
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            forget_known_paths()
