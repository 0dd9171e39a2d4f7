"""A demo e-commerce store that plays shoppers through the real ingest API.

Shoppers browse categories and products, some sign up or log in (identify with email and
consent), add to cart, remove, check out and order multi-item baskets; a few orders are
refunded or cancelled. Personas make RFM and preferences mean something: browsers who never
buy, one-time buyers, repeat buyers, big spenders, and dormant customers who bought early and
went quiet. Some known shoppers use two devices, so their profiles merge when they log in.

History is back-dated over a span of days; the last hour is played at its real time, so that
time-based features (campaign waits) see fresh events. Every message id is derived from the
seed, so playing the same seed again stores nothing twice.
"""

from __future__ import annotations

import hashlib
import heapq
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import requests

# The source `make run` creates and the simulator sends to by default.
DEMO_SOURCE = "Demo store"
LIBRARY = {"name": "cdp-demo-store", "version": "1.0"}
CATEGORIES = {
    "Running shoes": (79, 179),
    "Hiking boots": (99, 249),
    "Jackets": (89, 329),
    "Backpacks": (39, 189),
    "Socks": (9, 25),
    "Hats": (15, 45),
    "Base layers": (29, 89),
    "Accessories": (9, 69),
}
NOUNS = {
    "Running shoes": "Runner",
    "Hiking boots": "Boot",
    "Jackets": "Jacket",
    "Backpacks": "Pack",
    "Socks": "Sock",
    "Hats": "Cap",
    "Base layers": "Layer",
    "Accessories": "Bottle",
}
BRANDS = ["Alpina", "Northwind", "Trailcraft", "Summit & Co", "Fjellwear", "Cairn", "Kestrel"]
ADJECTIVES = ["Swift", "Ridge", "Storm", "Granite", "Aurora", "Glacier", "Pine", "Ember", "Drift"]
FIRST_NAMES = [
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Margaret",
    "Ken",
    "Radia",
    "Tim",
    "Hedy",
    "Linus",
    "Annie",
    "Dennis",
]
LAST_NAMES = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Hamilton",
    "Thompson",
    "Perlman",
    "Lee",
    "Lamarr",
    "Torvalds",
    "Easley",
    "Ritchie",
]
CITIES = ["Lyon", "Leeds", "Porto", "Graz", "Ghent", "Bergen", "Turin", "Cork"]
PERSONAS = [  # (name, share, orders (min, max), sessions (min, max))
    ("browser", 0.42, (0, 0), (1, 4)),
    ("one_time", 0.25, (1, 1), (2, 5)),
    ("repeat", 0.17, (2, 6), (4, 10)),
    ("big_spender", 0.05, (5, 12), (8, 16)),
    ("dormant", 0.11, (1, 3), (2, 5)),
]
CURRENCY = "USD"


@dataclass(frozen=True)
class DemoProduct:
    sku: str
    name: str
    price: float
    category: str
    brand: str
    image_url: str
    url: str  # its page in the demo storefront

    def item(self, quantity: int = 1) -> dict[str, Any]:
        return {
            "product_id": self.sku.lower(),
            "sku": self.sku,
            "name": self.name,
            "price": self.price,
            "quantity": quantity,
            "category": self.category,
            "brand": self.brand,
            "image_url": self.image_url,
            "url": self.url,
        }


def demo_catalog(*, base_url: str, count: int = 240, seed: int = 7) -> list[DemoProduct]:
    """A few hundred products in categories and brands, with prices and images served by
    the app itself (no CDN)."""
    rng = random.Random(f"catalog-{seed}")
    products = []
    categories = list(CATEGORIES)
    for n in range(count):
        category = categories[n % len(categories)]
        low, high = CATEGORIES[category]
        brand = rng.choice(BRANDS)
        noun = NOUNS[category]
        name = f"{brand} {rng.choice(ADJECTIVES)} {noun} {n // len(categories) + 1}"
        slug = category.lower().replace(" ", "-")
        price = float(Decimal(rng.uniform(low, high)).quantize(Decimal("1")) - Decimal("0.01"))
        products.append(
            DemoProduct(
                sku=f"DEMO-{n + 1:04d}",
                name=name,
                price=price,
                category=category,
                brand=brand,
                image_url=f"{base_url}/static/demo/{slug}.svg",
                url=f"{base_url}/shop/products/DEMO-{n + 1:04d}/",
            )
        )
    return products


@dataclass
class Shopper:
    number: int
    persona: str
    devices: list[str]
    favourites: list[str]
    user_id: str = ""
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    city: str = ""
    email_opt_in: bool = False
    sms_opt_in: bool = False
    identified: bool = False  # has an account
    logged_in: set[str] = field(default_factory=set)  # the devices it is logged in on
    orders: int = 0


@dataclass
class StoreStats:
    sessions: int = 0
    orders: int = 0
    shoppers: int = 0
    known: int = 0


@dataclass
class StoreSimulation:
    """Generates a store's traffic as Segment-spec messages, oldest first."""

    shoppers: int
    days: float
    seed: int = 7
    base_url: str = "http://127.0.0.1:8000"
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    stats: StoreStats = field(default_factory=StoreStats)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.catalog = demo_catalog(base_url=self.base_url, seed=self.seed)
        self.by_category: dict[str, list[DemoProduct]] = {}
        for product in self.catalog:
            self.by_category.setdefault(product.category, []).append(product)
        self._counter = 0
        self.pool: list[Shopper] = []
        # Live traffic's ids carry a salt of their own run, so a second run sends new
        # people and new messages instead of repeating the first one's.
        self.salt = ""

    # --- who shops --------------------------------------------------------------------------

    def _shopper(self, number: int) -> tuple[Shopper, tuple[int, int], tuple[int, int]]:
        """A new shopper: persona, devices, name; ids unique to the seed (and live run)."""
        rng = self.rng
        roll, total = rng.random(), 0.0
        persona, orders, sessions = PERSONAS[0][0], PERSONAS[0][2], PERSONAS[0][3]
        for name, share, order_range, session_range in PERSONAS:
            total += share
            if roll < total:
                persona, orders, sessions = name, order_range, session_range
                break
        devices = [self._id("anon", self.salt, number, 0)]
        if persona != "browser" and rng.random() < 0.3:
            devices.append(self._id("anon", self.salt, number, 1))  # a phone and a laptop
        shopper = Shopper(
            number=number,
            persona=persona,
            devices=devices,
            favourites=rng.sample(list(CATEGORIES), k=2),
            first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(LAST_NAMES),
            city=rng.choice(CITIES),
            email_opt_in=rng.random() < 0.7,
            sms_opt_in=rng.random() < 0.25,
        )
        tag = f"{self.salt}-{number}" if self.salt else str(number)
        shopper.user_id = f"demo-{self.seed}-{self.salt}{number:05d}"
        shopper.email = f"{shopper.first_name}.{shopper.last_name}.{tag}@example.com".lower()
        return shopper, orders, sessions

    def _id(self, kind: str, *parts: Any) -> str:
        digest = hashlib.sha256(f"{self.seed}:{kind}:{parts}".encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    # --- the traffic ------------------------------------------------------------------------

    def history(self) -> Iterator[dict[str, Any]]:
        """Every message of the span, oldest first."""
        messages: list[dict[str, Any]] = []
        start = self.now - timedelta(days=self.days)
        span = (self.now - start).total_seconds()
        for number in range(self.shoppers):
            shopper, order_range, session_range = self._shopper(number)
            self.pool.append(shopper)
            self.stats.shoppers += 1
            sessions = self.rng.randint(*session_range)
            buying = set(
                self.rng.sample(range(sessions), k=min(sessions, self.rng.randint(*order_range)))
            )
            # Dormant customers were active in the first half of the span only.
            window = 0.45 if shopper.persona == "dormant" else 1.0
            times = sorted(
                start + timedelta(seconds=self.rng.uniform(0, span * window))
                for _ in range(sessions)
            )
            # Some shoppers are on the site in its last hour, at their real time.
            if shopper.persona != "dormant" and self.rng.random() < 0.08:
                times[-1] = self.now - timedelta(minutes=self.rng.uniform(2, 60))
                times.sort()
            for index, at in enumerate(times):
                messages += self.session(shopper, at, buy=index in buying)
            if shopper.identified:
                self.stats.known += 1
        messages.sort(key=lambda m: m["timestamp"])
        yield from messages

    def live(self, *, sessions_per_minute: float = 6) -> Iterator[list[dict[str, Any]]]:
        """Endless traffic at the real time: visits start at random (on average
        `sessions_per_minute`), and each of their messages is yielded when its time comes.
        Yields every second, with the messages that fell due."""
        upcoming: list[tuple[datetime, int, dict[str, Any]]] = []
        next_start = datetime.now(UTC)
        sequence = 0
        self.salt = uuid.uuid4().hex[:6]
        # A shopper visits once at a time: a visit is planned only after their last one
        # ended, so no event of theirs is sent before the login that precedes it.
        busy_until: dict[int, datetime] = {}
        while True:
            now = datetime.now(UTC)
            while next_start <= now + timedelta(seconds=60):
                free = [s for s in self.pool if busy_until.get(s.number, next_start) <= next_start]
                if free and self.rng.random() < 0.7:
                    shopper = self.rng.choice(free)
                else:
                    shopper = self._shopper(self.shoppers + len(self.pool))[0]
                    self.pool.append(shopper)
                self.now = next_start + timedelta(days=1)  # a live visit is never cut short
                for message in self.session(shopper, next_start, buy=self.rng.random() < 0.15):
                    sequence += 1
                    at = datetime.fromisoformat(message["timestamp"])
                    busy_until[shopper.number] = at
                    heapq.heappush(upcoming, (at, sequence, message))
                next_start += timedelta(seconds=self.rng.expovariate(sessions_per_minute / 60))
            due = []
            while upcoming and upcoming[0][0] <= now:
                due.append(heapq.heappop(upcoming)[2])
            yield due
            time.sleep(1)

    def session(self, shopper: Shopper, at: datetime, *, buy: bool) -> list[dict[str, Any]]:
        """One visit: browse, maybe add to cart, maybe order."""
        rng = self.rng
        self.stats.sessions += 1
        device = rng.choice(shopper.devices)
        messages: list[dict[str, Any]] = []
        clock = [at]

        def emit(message: dict[str, Any], *, gap: tuple[float, float] = (4, 40)) -> None:
            clock[0] += timedelta(seconds=rng.uniform(*gap))
            if clock[0] > self.now:
                return  # the visit goes on after now: not yet happened
            self._counter += 1
            message.update(
                messageId=self._id(
                    "message", self.salt, shopper.number, self._counter, message["type"]
                ),
                anonymousId=device,
                timestamp=clock[0].isoformat(),
                context={
                    "library": LIBRARY,
                    "page": {"url": f"{self.base_url}/shop/"},
                    "userAgent": "Mozilla/5.0 (demo store)",
                },
            )
            if device in shopper.logged_in:
                message["userId"] = shopper.user_id
            messages.append(message)

        def log_in() -> None:
            signing_up = not shopper.identified
            shopper.identified = True
            emit(self._identify(shopper, login=not signing_up))
            shopper.logged_in.add(device)

        category = rng.choice(shopper.favourites if rng.random() < 0.75 else list(CATEGORIES))
        products = self.by_category[category]
        emit({"type": "page", "name": "Home", "properties": {"path": "/shop/"}}, gap=(0, 1))
        if shopper.identified and device not in shopper.logged_in and rng.random() < 0.5:
            log_in()  # on this device for the first time: its anonymous history joins
        listed = rng.sample(products, k=min(len(products), rng.randint(6, 12)))
        emit(
            {
                "type": "track",
                "event": "Product List Viewed",
                "properties": {
                    "list_id": category.lower().replace(" ", "-"),
                    "category": category,
                    "products": [p.item() for p in listed],
                },
            }
        )
        viewed = rng.sample(listed, k=rng.randint(1, min(4, len(listed))))
        for product in viewed:
            emit(
                {
                    "type": "page",
                    "name": product.name,
                    "properties": {"path": f"/shop/products/{product.sku}"},
                }
            )
            emit(
                {
                    "type": "track",
                    "event": "Product Viewed",
                    "properties": {**product.item(), "currency": CURRENCY},
                },
                gap=(1, 3),
            )
        cart: list[tuple[DemoProduct, int]] = []
        if buy or rng.random() < 0.3:
            cart_id = self._id("cart", shopper.number, self.stats.sessions)
            for product in viewed[: rng.randint(1, len(viewed))]:
                quantity = 1 if rng.random() < 0.85 else 2
                cart.append((product, quantity))
                emit(
                    {
                        "type": "track",
                        "event": "Product Added",
                        "properties": {**product.item(quantity), "cart_id": cart_id},
                    }
                )
            if len(cart) > 1 and rng.random() < 0.25:
                removed, quantity = cart.pop()
                emit(
                    {
                        "type": "track",
                        "event": "Product Removed",
                        "properties": {**removed.item(quantity), "cart_id": cart_id},
                    }
                )
            emit(
                {
                    "type": "track",
                    "event": "Cart Viewed",
                    "properties": {"cart_id": cart_id, "products": [p.item(q) for p, q in cart]},
                }
            )
        if buy and cart:
            if device not in shopper.logged_in:
                log_in()
            total = sum((Decimal(str(p.price)) * q for p, q in cart), Decimal(0)).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP
            )
            items = [p.item(q) for p, q in cart]
            emit(
                {
                    "type": "track",
                    "event": "Checkout Started",
                    "properties": {"value": float(total), "currency": CURRENCY, "products": items},
                }
            )
            shopper.orders += 1
            self.stats.orders += 1
            order_id = f"D{self.seed}-{shopper.number:05d}-{shopper.orders:02d}"
            emit(
                {
                    "type": "track",
                    "event": "Order Completed",
                    "properties": {
                        "order_id": order_id,
                        "total": float(total),
                        "revenue": float(total),
                        "shipping": 4.95 if total < 60 else 0,
                        "currency": CURRENCY,
                        "products": items,
                    },
                },
                gap=(20, 90),
            )
            after = rng.random()
            if after < 0.04:
                emit(
                    {
                        "type": "track",
                        "event": "Order Refunded",
                        "properties": {"order_id": order_id, "total": float(items[0]["price"])},
                    },
                    gap=(86_400, 10 * 86_400),
                )
            elif after < 0.06:
                emit(
                    {
                        "type": "track",
                        "event": "Order Cancelled",
                        "properties": {"order_id": order_id},
                    },
                    gap=(600, 7200),
                )
        elif not shopper.identified and rng.random() < 0.12:
            log_in()  # signs up for the newsletter without buying
        return messages

    def _identify(self, shopper: Shopper, *, login: bool) -> dict[str, Any]:
        traits: dict[str, Any] = {"email": shopper.email}
        if not login:
            traits.update(
                first_name=shopper.first_name,
                last_name=shopper.last_name,
                city=shopper.city,
                email_opt_in=shopper.email_opt_in,
                sms_opt_in=shopper.sms_opt_in,
            )
        return {"type": "identify", "userId": shopper.user_id, "traits": traits}


@dataclass
class SendResult:
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)


class StoreSender:
    """Posts messages to `/v1/batch` in batches, as an SDK would: Basic auth with the write
    key, `sentAt` on every batch, retries with backoff on 429 and 5xx."""

    def __init__(
        self, *, base_url: str, write_key: str, batch_size: int = 100, rate: float = 0
    ) -> None:
        self.url = base_url.rstrip("/") + "/v1/batch"
        self.session = requests.Session()
        self.session.auth = (write_key, "")
        self.batch_size = batch_size
        self.rate = rate  # events per second; 0 is as fast as the server takes them
        self.result = SendResult()

    def send(self, messages: Iterator[dict[str, Any]]) -> SendResult:
        batch: list[dict[str, Any]] = []
        started = time.monotonic()
        sent = 0
        for message in messages:
            batch.append(message)
            if len(batch) >= self.batch_size:
                self._post(batch)
                sent += len(batch)
                batch = []
                if self.rate:
                    ahead = sent / self.rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
        if batch:
            self._post(batch)
        return self.result

    def _post(self, batch: list[dict[str, Any]]) -> None:
        body: dict[str, Any] = {"batch": batch, "sentAt": datetime.now(UTC).isoformat()}
        for attempt in range(6):
            try:
                response = self.session.post(self.url, json=body, timeout=30)
            except requests.RequestException as error:
                failure = f"{type(error).__name__}: {error}"
            else:
                if response.status_code == 200:
                    answer = response.json()
                    self.result.accepted += answer.get("accepted", 0)
                    self.result.duplicates += answer.get("duplicates", 0)
                    self.result.refused += len(answer.get("refused", []))
                    self.result.requests += 1
                    return
                failure = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in (429, 500, 502, 503, 504):
                    break
            time.sleep(min(8.0, 0.25 * 2**attempt))
        self.result.errors.append(failure)
