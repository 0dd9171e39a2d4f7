"""The benchmark behind `make bench`: figures that say how the product holds up as data grows.

It runs in a database of its own (`<name>_bench`, created and dropped on the same server as
the app's: the embedded PostgreSQL by default, or `DATABASE_URL`), fills it with generated
data, and times what a marketer waits for. Every figure is the median of several runs after
a warm-up. Pages are timed through Django's test client in this process (view, queries and
template, no network), so they measure the server's work, not the browser's.
"""

from __future__ import annotations

import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from ingestion.models import Event, Source
from profiles.models import Identity, Profile

FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
CATEGORIES = ["Shoes", "Socks", "Hats", "Jackets", "Bags"]


@dataclass
class Figure:
    name: str
    median_ms: float
    runs: int
    detail: str = ""
    samples_ms: list[float] = field(default_factory=list)


@dataclass
class Report:
    database: str
    started_at: str
    machine: str
    figures: list[Figure] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def timed(name: str, action: Callable[[], object], *, runs: int, detail: str = "") -> Figure:
    action()  # warm-up: connections, caches, the first template compile
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return Figure(
        name=name,
        median_ms=round(statistics.median(samples), 2),
        runs=runs,
        detail=detail,
        samples_ms=[round(s, 2) for s in samples],
    )


def database_description() -> str:
    settings_dict = connection.settings_dict
    host = settings_dict.get("HOST") or "local socket"
    kind = "embedded PostgreSQL" if "pgdata" in str(host) else f"PostgreSQL at {host}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    return f"{kind} {version} (database {settings_dict['NAME']})"


# --- Generated data ---------------------------------------------------------------------------


def profiles_generate(count: int, *, seed: int = 7) -> None:
    """`count` profiles: a third known (user id, email, name), the rest anonymous, each with
    an anonymous id; last seen spread over a year."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    chunk = 5000
    for start in range(0, count, chunk):
        profiles = []
        for i in range(start, min(start + chunk, count)):
            known = i % 3 == 0
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {i}" if known else ""
            profiles.append(
                Profile(
                    user_id=f"user-{i}" if known else "",
                    email=f"person{i}@example.com" if known else "",
                    name=name,
                    traits={"name": name} if known else {},
                    last_seen=now - timedelta(minutes=rng.randrange(525_600)),
                    first_seen=now - timedelta(days=400),
                    event_count=rng.randrange(1, 200),
                    orders_count=rng.randrange(0, 5) if known else 0,
                    computed_at=now,
                )
            )
        Profile.objects.bulk_create(profiles, batch_size=chunk)
        identities = []
        for offset, profile in enumerate(profiles):
            i = start + offset
            identities.append(
                Identity(profile=profile, namespace="anonymous_id", value=f"anon-{i}")
            )
            if profile.user_id:
                identities.append(
                    Identity(profile=profile, namespace="user_id", value=profile.user_id)
                )
                identities.append(Identity(profile=profile, namespace="email", value=profile.email))
        Identity.objects.bulk_create(identities, batch_size=chunk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE profiles_profile")
        cursor.execute("ANALYZE profiles_identity")


def timeline_generate(*, events: int, source: Source) -> Profile:
    """One known profile with `events` events of several activities, newest an hour ago."""
    profile = Profile.objects.create(user_id="heavy-user", email="heavy@example.com", name="Heavy")
    Identity.objects.create(profile=profile, namespace="user_id", value="heavy-user")
    now = datetime.now(UTC) - timedelta(hours=1)
    names = ["Product Viewed", "Product Added", "Cart Viewed", "Order Completed"]
    rows = []
    for i in range(events):
        at = now - timedelta(minutes=17 * i)
        name = names[i % len(names)]
        products = [
            {"sku": f"SKU-{i % 300}", "price": 19.5, "category": CATEGORIES[i % 5], "quantity": 1}
        ]
        rows.append(
            Event(
                source=source,
                message_id=f"heavy-{i}",
                type="track",
                name=name,
                user_id="heavy-user",
                timestamp=at,
                original_timestamp=at,
                received_at=at,
                properties={"products": products, "total": 19.5},
                context={"library": {"name": "bench"}},
                profile=profile,
                processed_at=at,
            )
        )
    Event.objects.bulk_create(rows, batch_size=2000)
    Profile.objects.filter(pk=profile.pk).update(event_count=events, last_seen=now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ingestion_event")
    return profile


def marketer_client() -> Client:
    # The test client's host, as Django's test runner allows it.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    user, _ = get_user_model().objects.get_or_create(username="bench-marketer")
    client = Client()
    client.force_login(user)
    return client


def get_ok(client: Client, url: str, **headers: str) -> Callable[[], object]:
    def action() -> object:
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
        return response

    return action


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
