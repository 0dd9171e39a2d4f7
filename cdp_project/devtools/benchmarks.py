"""The benchmark behind `make bench`: figures that say how the product holds up as data grows.

It runs in a database of its own (`<name>_bench`, created and dropped on the same server as
the app's: the embedded PostgreSQL by default, or `DATABASE_URL`), fills it with generated
data, and times what a marketer waits for. Every figure is the median of several runs after
a warm-up. Pages are timed through Django's test client in this process (view, queries and
template, no network), so they measure the server's work, not the browser's.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from campaigns.models import Campaign, JourneyVersion
from cdp_project.devtools.webserver import web_server_command
from ingestion.catalog.roles import default_role
from ingestion.models import Activity, ActivityProperty, Event, ProfileAttribute, Source
from ingestion.rollups import event_hours_refresh
from profiles.models import Identity, Profile
from segments.models import Segment

FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
CATEGORIES = ["Shoes", "Socks", "Hats", "Jackets", "Bags"]


@dataclass
class Figure:
    name: str
    value: float  # the median of the runs
    unit: str  # "ms", "events/s", "s"
    runs: int
    detail: str = ""
    samples: list[float] = field(default_factory=list)
    # A throughput's share of a reference measured in the same run (the raw COPY rate).
    ratio: float | None = None
    reference: str = ""
    reference_rate: float | None = None
    # The reference of each run, measured right after it.
    reference_samples: list[float] = field(default_factory=list)


@dataclass
class Report:
    database: str
    started_at: str
    machine: str
    load: str = ""
    figures: list[Figure] = field(default_factory=list)
    # EXPLAIN ANALYZE of the slowest queries, by name.
    plans: dict[str, str] = field(default_factory=dict)

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
        value=round(statistics.median(samples), 2),
        unit="ms",
        runs=runs,
        detail=detail,
        samples=[round(s, 2) for s in samples],
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

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- Ingest through the production server ---------------------------------------------------


def database_url_of_connection() -> str:
    """A URL for the database this process is connected to (the benchmark's own), so the
    servers it starts use it too."""

    s = connection.settings_dict
    auth = quote(s.get("USER") or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    host = quote(str(s.get("HOST") or ""), safe="")
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{s['NAME']}"


class Stack:
    """The production web server (gunicorn, as `make run` starts it) and, on demand, a Celery
    worker, on the benchmark's database and a broker folder of their own."""

    def __init__(self, *, folder: str) -> None:

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.bin = os.path.dirname(sys.executable)
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url_of_connection(),
            "CDP_VAR_DIR": folder,
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("CELERY_BROKER_URL", None)  # a filesystem broker in `folder`
        self.folder = folder
        self.processes: list = []

    def start_web(self) -> None:
        command = [
            *web_server_command(bind=f"127.0.0.1:{self.port}"),
            "--log-level", "warning",
        ]  # fmt: skip
        self._spawn(command, "web")
        deadline = time.monotonic() + 60

        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/health/", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("the web server did not start")

    def start_worker(self, *, concurrency: int = 1, beat: bool = False) -> None:

        # Tasks published while no worker ran are dropped: the lag is measured on fresh ones.
        for message in (Path(self.folder) / "broker" / "queue").glob("*"):
            message.unlink(missing_ok=True)
        command = [
            f"{self.bin}/celery", "-A", "cdp_project", "worker",
            "--concurrency", str(concurrency), "--loglevel", "WARNING", "--without-heartbeat",
            *(["--beat", "--schedule", f"{self.folder}/beat-schedule"] if beat else []),
        ]  # fmt: skip
        self._spawn(command, "worker")

    def _spawn(self, command: list[str], name: str) -> None:
        """Start a child whose output goes to a log in the folder, not the table."""

        log = open(f"{self.folder}/{name}.log", "ab")  # noqa: SIM115 - closed with the child
        process = subprocess.Popen(  # noqa: S603 - our own fixed command
            command, env=self.env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes.append(process)

    def stop(self) -> None:

        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except Exception:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def batch_bodies(*, batches: int, size: int, run: int, seed: int = 11) -> list[bytes]:
    """Batches of `size` track events, each with a three-item `products` array, from a pool
    of 20,000 visitors (a third of them known), every message id new."""

    rng = random.Random(f"{seed}-{run}")
    now = datetime.now(UTC)
    names = ["Product Viewed", "Product Added", "Cart Viewed", "Order Completed"]
    bodies = []
    for b in range(batches):
        events = []
        for i in range(size):
            visitor = rng.randrange(20_000)
            products = [
                {
                    "sku": f"SKU-{rng.randrange(500)}",
                    "name": f"Product {rng.randrange(500)}",
                    "price": round(rng.uniform(5, 200), 2),
                    "quantity": 1,
                    "category": CATEGORIES[rng.randrange(5)],
                }
                for _ in range(3)
            ]
            event = {
                "type": "track",
                "event": names[i % len(names)],
                "messageId": f"bench-{run}-{b}-{i}",
                "anonymousId": f"visitor-{visitor}",
                "timestamp": (now - timedelta(seconds=rng.randrange(3600))).isoformat(),
                "properties": {"products": products, "total": 99.5, "currency": "USD"},
                "context": {"library": {"name": "bench", "version": "1"}, "ip": "10.0.0.1"},
            }
            if visitor % 3 == 0:
                event["userId"] = f"customer-{visitor}"
            events.append(event)
        bodies.append(json.dumps({"batch": events, "sentAt": now.isoformat()}).encode())
    return bodies


def http_request(path: str, body: bytes, *, write_key: str) -> bytes:

    auth = base64.b64encode(f"{write_key}:".encode()).decode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader) -> tuple[int, bytes]:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length)


def post_all(
    *, port: int, requests_: list[bytes], clients: int
) -> tuple[float, list[float], list[tuple[int, bytes]]]:
    """Send the requests over `clients` keep-alive connections at once (asyncio, one thread:
    the load generator stays lean on a shared machine). Returns the wall time, each
    request's latency, and the answers."""

    async def main() -> tuple[float, list[float], list[tuple[int, bytes]]]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for request in requests_:
            queue.put_nowait(request)
        latencies: list[float] = []
        answers: list[tuple[int, bytes]] = []

        async def client() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                while not queue.empty():
                    request = queue.get_nowait()
                    start = time.perf_counter()
                    writer.write(request)
                    await writer.drain()
                    answers.append(await _read_response(reader))
                    latencies.append(time.perf_counter() - start)
            finally:
                writer.close()

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return time.perf_counter() - start, latencies, answers

    return asyncio.run(main())


def copy_rate(*, bodies: list[bytes], source_id: int, after_id: int) -> float:
    """The raw reference: the events of these bodies as rows of the events table, each with
    the profile ingest resolved it to (its events after `after_id`), loaded with COPY in one
    statement. Returns rows per second. The rows are deleted once timed, so that the later
    figures measure the store without them."""

    profiles = dict(
        Event.objects.filter(source_id=source_id, pk__gt=after_id).values_list(
            "message_id", "profile_id"
        )
    )
    now = datetime.now(UTC)
    rows = []
    for body in bodies:
        for event in json.loads(body)["batch"]:
            at = datetime.fromisoformat(event["timestamp"])
            rows.append(
                (
                    source_id, "copy-" + event["messageId"], "track", event["event"],
                    event.get("userId", ""), event["anonymousId"], at, at, now, now,
                    json.dumps(event["properties"]), "{}", json.dumps(event["context"]), "{}",
                    "[]", profiles[event["messageId"]],
                )
            )  # fmt: skip
    columns = (
        "source_id, message_id, type, name, user_id, anonymous_id, timestamp, "
        "original_timestamp, sent_at, received_at, properties, traits, context, extra, flags, "
        "profile_id"
    )
    start = time.perf_counter()
    sql = f"COPY ingestion_event ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
    rate = len(rows) / (time.perf_counter() - start)
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM ingestion_event WHERE source_id = %s AND id > %s"
            " AND message_id LIKE 'copy-%%'",
            [source_id, after_id],
        )
    return rate


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# --- Segments ---------------------------------------------------------------------------------

SEGMENT_ACTIVITIES = ["Product Viewed", "Product Added", "Order Completed", "Product Removed"]
CITIES = ["Lyon", "Paris", "Berlin", "Madrid", "Milan"]


def segment_store_generate(*, events: int, source: Source, offset: int = 0) -> int:
    """`events` events over every generated profile (one `INSERT … SELECT` in Postgres), spread
    over 90 days and stored in time order as live events arrive, each with a one- to
    three-item `products` array; every profile gets a `city` trait; and the catalog entries a
    segment definition is checked against. Answers the number of profiles. `offset` numbers
    the events after those of an earlier call, so two calls make the data one call would."""

    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE profiles_profile SET traits = traits || jsonb_build_object('city', "
            "(%s::text[])[1 + id %% 5])",
            [CITIES],
        )
        cursor.execute("SELECT array_agg(id ORDER BY id) FROM profiles_profile")
        ids = cursor.fetchone()[0] or []
        # Each event: a profile picked by a hash of its number, an activity, a time in the last
        # 90 days, and 1-3 items whose category and price vary independently.
        cursor.execute(
            """
            INSERT INTO ingestion_event (
                source_id, message_id, type, name, user_id, anonymous_id, timestamp,
                original_timestamp, received_at, properties, traits, context, extra, flags,
                processed_at, profile_id)
            SELECT %(source)s, 'bench-seg-' || g, 'track', (%(names)s::text[])[1 + g %% 4], '',
                   'anon', t, t, t,
                   jsonb_build_object('products', (
                       SELECT jsonb_agg(jsonb_build_object(
                           'sku', 'SKU-' || ((g * 7 + i) %% 500),
                           'category', (%(categories)s::text[])[1 + ((g / 3 + i * 7) %% 5)],
                           'price', ((g * 13 + i * 29) %% 120) + 0.5))
                       FROM generate_series(1, 1 + g %% 3) AS i)),
                   '{}'::jsonb, '{}'::jsonb, '{}'::jsonb, '[]'::jsonb, t,
                   (%(ids)s::bigint[])[1 + (hashint4(g) & 2147483647) %% %(count)s]
            FROM generate_series(%(first)s, %(last)s) AS g,
                 LATERAL (SELECT %(now)s::timestamptz - make_interval(
                     secs => (hashint4(g + 1) & 2147483647) %% 7776000)) AS w(t)
            ORDER BY t
            """,
            {
                "source": source.pk,
                "names": SEGMENT_ACTIVITIES,
                "categories": CATEGORIES,
                "ids": ids,
                "count": len(ids),
                "first": offset + 1,
                "last": offset + events,
                "now": now,
            },
        )
        cursor.execute("ANALYZE ingestion_event")
        cursor.execute("ANALYZE profiles_profile")
    for name in SEGMENT_ACTIVITIES:
        activity, _ = Activity.objects.get_or_create(
            kind="track", name=name, defaults={"volume": events // 4, "last_seen": now}
        )
        for path, kind in [
            ("products", "array"),
            ("products[].sku", "string"),
            ("products[].category", "string"),
            ("products[].price", "number"),
        ]:
            ActivityProperty.objects.get_or_create(
                activity=activity, path=path, defaults={f"{kind}_count": 1, "volume": 1}
            )
    ProfileAttribute.objects.get_or_create(
        path="city", defaults={"string_count": len(ids), "volume": len(ids)}
    )
    return len(ids)


# The benchmark's segment: a trait, a behaviour in a window, and an array-item filter.
BENCH_SEGMENT = {
    "kind": "group",
    "match": "all",
    "conditions": [
        {
            "kind": "attribute",
            "scope": "trait",
            "path": "city",
            "operator": "equals",
            "value": "Lyon",
        },
        {
            "kind": "behaviour",
            "activity": {"kind": "track", "name": "Product Added"},
            "count": {"operator": "at_least", "value": 1},
            "window": {"type": "last", "amount": 7, "unit": "days"},
            "where": [
                {"path": "products[].category", "operator": "equals", "value": "Shoes"},
                {"path": "products[].price", "operator": "gt", "value": 50},
            ],
        },
        {
            "kind": "behaviour",
            "negate": True,
            "activity": {"kind": "track", "name": "Order Completed"},
            "count": {"operator": "at_least", "value": 1},
            "window": {"type": "last", "amount": 7, "unit": "days"},
        },
    ],
}


# A segment most people are in: what a refresh costs when tens of thousands enter at once.
BENCH_WIDE_SEGMENT = {
    "kind": "group",
    "match": "all",
    "conditions": [
        {
            "kind": "behaviour",
            "activity": {"kind": "track", "name": "Product Viewed"},
            "count": {"operator": "at_least", "value": 1},
            "window": {"type": "last", "amount": 30, "unit": "days"},
        }
    ],
}


def explain_analyze(sql: str, params: list | dict) -> str:
    """The plan Postgres chose for a query, with its actual times."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


# --- Analytics --------------------------------------------------------------------------------


def analytics_store_generate() -> dict[str, int]:
    """Turn the segment figures' store into a shop for the analytics figures: its
    `Product Removed` events become `Checkout Started` (so the funnel has four steps of
    about 250,000 events each, and the store keeps its size), and every `Order Completed`
    event gets its `Order` (one in twenty cancelled), as processing would have made them.
    Then the hourly rollup is folded in from empty, as beat does after a first start."""

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ingestion_event SET name = 'Checkout Started' WHERE name = 'Product Removed'"
        )
        cursor.execute(
            """
            INSERT INTO profiles_order (profile_id, order_id, placed_at, status, currency,
                total, refunded, rate, net_revenue, products, message_id)
            SELECT profile_id, 'bench-' || id, timestamp,
                   CASE WHEN id %% 20 = 0 THEN 'cancelled' ELSE 'completed' END, 'USD',
                   20 + id %% 180, 0, 1, CASE WHEN id %% 20 = 0 THEN 0 ELSE 20 + id %% 180 END,
                   '[]'::jsonb, message_id
            FROM ingestion_event WHERE name = %s AND profile_id IS NOT NULL
            """,
            ["Order Completed"],
        )
        orders = cursor.rowcount
        cursor.execute("ANALYZE ingestion_event")
        cursor.execute("ANALYZE profiles_order")
    Activity.objects.filter(name="Product Removed").update(name="Checkout Started")
    # The roles discovery gives these activities (the segment figures' catalog has none).
    for activity in Activity.objects.filter(kind="track"):
        activity.role = default_role(activity.kind, activity.name)
        activity.save(update_fields=["role"])
    start = time.perf_counter()
    counted = event_hours_refresh()
    rollup_ms = (time.perf_counter() - start) * 1000
    return {"orders": orders, "counted": counted, "rollup_ms": round(rollup_ms, 2)}


def analytics_segment_generate() -> tuple[int, int]:
    """A segment holding one profile in ten, as a refresh would have materialised it: what
    the funnel for a segment reads. Answers its id and size."""

    segment = Segment.objects.create(name="Bench analytics: one in ten")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO segments_membership (segment_id, profile_id, entered_at) "
            "SELECT %s, id, now() FROM profiles_profile WHERE id %% 10 = 0",
            [segment.pk],
        )
        members = cursor.rowcount
        cursor.execute("ANALYZE segments_membership")
    return segment.pk, members


# --- A journey with its enrollments, for the journey page -----------------------------------

JOURNEY_DEFINITION: dict = {
    "trigger": {"kind": "activity", "activity": {"role": "product_added"}, "where": []},
    "start": "wait_order",
    "steps": [
        {
            "id": "wait_order",
            "type": "wait_for",
            "activity": {"role": "order_completed"},
            "match_keys": ["cart_id"],
            "timeout_seconds": 3600,
            "yes": "",
            "timed_out": "opted_in",
        },
        {
            "id": "opted_in",
            "type": "split",
            "condition": {
                "kind": "group",
                "match": "all",
                "conditions": [
                    {"kind": "consent", "negate": False, "channel": "email", "state": "granted"}
                ],
            },
            "yes": "cart",
            "no": "done",
        },
        {
            "id": "cart",
            "type": "send",
            "channel": "email",
            "subject": "You left something behind",
            "html": "<p>Your cart</p>",
            "text": "Your cart",
            "items": "cart",
        },
        {"id": "done", "type": "exit"},
    ],
    "exit_on": [{"role": "order_completed"}],
    "goal": {"activity": {"role": "order_completed"}, "days": 3},
}

# What became of the n-th enrollment, by n % 20: (state, node, reason, step runs as
# (node, outcome, detail), sent a message).
_JOURNEY_FATES: list[tuple[str, str, str, list[tuple[str, str, str]], bool]] = (
    [("pending", "wait_order", "", [], False)] * 4
    + [("completed", "wait_order", "", [("wait_order", "matched", "")], False)] * 3
    + [("exited", "wait_order", "converted: order completed", [], False)] * 3
    + [
        (
            "exited",
            "done",
            "reached an exit step",
            [
                ("wait_order", "timed_out", ""),
                ("opted_in", "no", ""),
                ("done", "exited", "reached an exit step"),
            ],
            False,
        )
    ]
    * 3
    + [
        (
            "sent",
            "cart",
            "",
            [("wait_order", "timed_out", ""), ("opted_in", "yes", ""), ("cart", "sent", "")],
            True,
        )
    ]
    * 5
    + [
        (
            "suppressed",
            "cart",
            "no consent",
            [
                ("wait_order", "timed_out", ""),
                ("opted_in", "yes", ""),
                ("cart", "suppressed", "no consent"),
            ],
            False,
        ),
        (
            "control",
            "cart",
            "control group",
            [
                ("wait_order", "timed_out", ""),
                ("opted_in", "yes", ""),
                ("cart", "control", "control group"),
            ],
            False,
        ),
    ]
)


def journey_store_generate(*, enrollments: int) -> int:
    """An active journey (trigger, wait for an order, split, send or exit) with `enrollments`
    entries over the last 30 days, spread over the existing profiles, in every state the
    engine leaves them in, with their step runs and messages; answers the journey's id."""
    campaign = Campaign.objects.create(
        name="Bench journey",
        kind=Campaign.Kind.JOURNEY,
        status=Campaign.Status.ACTIVE,
        control_percent=5,
    )
    version = JourneyVersion.objects.create(
        campaign=campaign, number=1, definition=JOURNEY_DEFINITION
    )
    campaign.version = version
    campaign.save(update_fields=["version"])
    fates = (
        "(VALUES "
        + ", ".join(
            f"({n}, '{state}', '{node}', '{reason}', {str(sent).lower()})"
            for n, (state, node, reason, _, sent) in enumerate(_JOURNEY_FATES)
        )
        + ") AS f(n, state, node, reason, sent)"
    )
    # Each fate is one (state, node) pair: the step runs join on it.
    runs = (
        "(VALUES "
        + ", ".join(
            sorted(
                {
                    f"('{state}', '{at}', {order}, '{node}', '{outcome}', '{detail}')"
                    for state, at, _, steps, _ in _JOURNEY_FATES
                    for order, (node, outcome, detail) in enumerate(steps)
                }
            )
        )
        + ") AS r(state, at, step, node, outcome, detail)"
    )
    # The VALUES lists are this module's constants, not input: formatting them in is safe.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH people AS (SELECT array_agg(id ORDER BY id) AS ids FROM profiles_profile),
            rows AS (
                SELECT i, now() - (i * interval '30 days') / %(count)s AS at FROM
                generate_series(1, %(count)s) AS i
            )
            INSERT INTO campaigns_enrollment (campaign_id, version_id, node, step_at,
                profile_id, trigger, trigger_at, key, cart_id, once, state, reason, due_at,
                created_at, updated_at)
            SELECT %(campaign)s, %(version)s, f.node, rows.at,
                people.ids[1 + i %% cardinality(people.ids)], '{{}}'::jsonb, rows.at, '', '',
                false, f.state, f.reason,
                CASE WHEN f.state = 'pending' THEN now() + (i %% 3600) * interval '1 second'
                     ELSE rows.at + interval '1 hour' END,
                rows.at, rows.at + interval '1 hour'
            FROM rows, people, {fates} WHERE f.n = i %% 20
            """,  # noqa: S608
            {"count": enrollments, "campaign": campaign.pk, "version": version.pk},
        )
        cursor.execute(
            f"""
            INSERT INTO campaigns_steprun (campaign_id, enrollment_id, node, outcome, detail, at)
            SELECT e.campaign_id, e.id, r.node, r.outcome, r.detail,
                   e.created_at + r.step * interval '1 hour'
            FROM campaigns_enrollment e JOIN {runs} ON r.state = e.state AND r.at = e.node
            WHERE e.campaign_id = %(campaign)s
            """,  # noqa: S608
            {"campaign": campaign.pk},
        )
        cursor.execute(
            """
            INSERT INTO campaigns_message (enrollment_id, node, campaign_id, profile_id, channel,
                recipient, sender, subject, html, text, headers, transactional, status,
                idempotency_key, attempts, error, sent_at, created_at)
            SELECT e.id, 'cart', e.campaign_id, e.profile_id, 'email', 'bench@example.com',
                'shop@example.com', 'You left something behind', '', '', '{}'::jsonb, false,
                'sent', 'bench-journey-' || e.id, 1, '', e.updated_at, e.updated_at
            FROM campaigns_enrollment e
            WHERE e.campaign_id = %(campaign)s AND e.node = 'cart' AND e.state = 'sent'
            """,
            {"campaign": campaign.pk},
        )
        # As autovacuum leaves a table some time after a load: statistics, and the visibility
        # map that lets the counts read their indexes alone.
        for table in ("campaigns_enrollment", "campaigns_steprun", "campaigns_message"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return campaign.pk
