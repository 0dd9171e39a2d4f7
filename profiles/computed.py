"""Traits, consent and computed attributes, folded from events into profiles.

The ingest processor `profiles_update` runs on every stored batch (after catalog discovery,
so a new activity already has its commerce role). It locks the batch's profiles once, in id
order, folds the batch into each of them in memory and writes them back with one statement;
orders are upserted set-based. `profile_recompute` folds a profile's whole history through the
same code, for repairs and for the tests that hold the two equal. docs/profiles.md gives the
rules in the marketer's words.

What needs time or other customers to change is refreshed on a schedule: the engagement
score decays (`profiles_engagement_decay`) and RFM quintiles are recomputed over all
customers with orders (`profiles_rfm_refresh`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Field, Max, Q, Sum
from django.utils import timezone

from cdp_project.core.jsontext import json_text
from cdp_project.core.prepared import prepared_cursor
from ingestion.amounts import ORDER_AMOUNT_LIMIT
from ingestion.catalog.products import products_in_event
from ingestion.catalog.roles import default_role
from ingestion.models import Activity, CommerceRole, Event, Product, Source
from profiles.columns import sql_type
from profiles.models import Consent, ConsentChange, Order, Profile

logger = logging.getLogger(__name__)

Role = CommerceRole

# Identify traits that carry consent, per channel; the first one present wins.
CONSENT_TRAITS = {
    ConsentChange.Channel.EMAIL: (
        "email_consent",
        "email_opt_in",
        "email_subscribed",
        "accepts_marketing",
    ),
    ConsentChange.Channel.SMS: ("sms_consent", "sms_opt_in", "sms_subscribed"),
}
_GRANTED = {"true", "yes", "y", "1", "granted", "opted_in", "opt_in", "subscribed", "on"}
_WITHDRAWN = {"false", "no", "n", "0", "withdrawn", "opted_out", "opt_out", "unsubscribed", "off"}

# Engagement points per event when the activity sets none.
DEFAULT_POINTS: dict[str, float] = {
    Role.ORDER_COMPLETED: 10.0,
    Role.CHECKOUT_STARTED: 5.0,
    Role.PRODUCT_ADDED: 3.0,
    Role.PRODUCT_VIEWED: 1.0,
    Role.CART_VIEWED: 1.0,
    Role.PRODUCT_REMOVED: 0.0,
    Role.ORDER_REFUNDED: 0.0,
    Role.ORDER_CANCELLED: 0.0,
}
DEFAULT_TRACK_POINTS = 1.0
DEFAULT_VIEW_POINTS = 0.5  # page and screen calls
# How much an item counts towards preferences.
PREFERENCE_WEIGHTS: dict[str, float] = {
    # A list shows many products the person did not choose: each counts half a view.
    Role.PRODUCT_LIST_VIEWED: 0.5,
    Role.PRODUCT_VIEWED: 1.0,
    Role.ORDER_COMPLETED: 3.0,
}
PREFERENCES_KEPT = 20
ENGAGEMENT_WEEKS_KEPT = 12
CENTS = Decimal("0.01")
# The computed attributes proper, in the order admin shows them.
ATTRIBUTE_FIELDS = [
    "first_seen",
    "last_seen",
    "event_count",
    "orders_count",
    "revenue",
    "average_order_value",
    "last_order_at",
    "preferences",
    "last_viewed",
    "engagement_score",
    "engagement_at",
    "engagement_weeks",
]
# Everything the processor writes on a profile.
COMPUTED_FIELDS = [
    "name",
    "traits",
    "trait_times",
    "email_consent",
    "email_consent_at",
    "sms_consent",
    "sms_consent_at",
    *ATTRIBUTE_FIELDS,
    "computed_at",
]


# --- What each activity means --------------------------------------------------------------


@dataclass(frozen=True)
class ActivityMeaning:
    role: str
    points: float


def activity_meanings(events: Iterable[Event]) -> dict[tuple[str, str], ActivityMeaning]:
    """The role and engagement points of each activity in `events` (one query)."""
    keys = {key for event in events if (key := _activity_key(event)) is not None}
    if not keys:
        return {}
    condition = Q()
    for kind, name in keys:
        condition |= Q(kind=kind, name=name)
    found = {
        (a.kind, a.name): a
        for a in Activity.objects.filter(condition).only(
            "kind", "name", "role", "engagement_points"
        )
    }
    meanings = {}
    for kind, name in keys:
        activity = found.get((kind, name))
        role = activity.role if activity else default_role(kind, name)
        points = activity.engagement_points if activity else None
        if points is None:
            points = default_points(kind, role)
        meanings[(kind, name)] = ActivityMeaning(role=role, points=points)
    return meanings


def default_points(kind: str, role: str) -> float:
    if kind in ("page", "screen"):
        return DEFAULT_VIEW_POINTS
    if role:
        return DEFAULT_POINTS.get(role, DEFAULT_TRACK_POINTS)
    return DEFAULT_TRACK_POINTS


def _meaning(
    meanings: dict[tuple[str, str], ActivityMeaning], event: Event
) -> ActivityMeaning | None:
    key = _activity_key(event)
    return meanings.get(key) if key is not None else None


def _activity_key(event: Event) -> tuple[str, str] | None:
    if event.type == "track":
        return ("track", event.name)
    if event.type in ("page", "screen"):
        return (event.type, "")
    return None


# --- Small readers of event values ---------------------------------------------------------


def consent_state(value: Any) -> str | None:
    """What a consent trait's value says: granted, withdrawn, or nothing we understand."""
    if isinstance(value, bool):
        return Consent.GRANTED if value else Consent.WITHDRAWN
    if isinstance(value, int | float) and value in (0, 1):
        return Consent.GRANTED if value else Consent.WITHDRAWN
    if isinstance(value, str):
        text = value.strip().lower().replace("-", "_").replace(" ", "_")
        if text in _GRANTED:
            return Consent.GRANTED
        if text in _WITHDRAWN:
            return Consent.WITHDRAWN
    return None


def profile_name(traits: dict[str, Any]) -> str:
    name = traits.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()[:255]
    parts = []
    for keys in (("first_name", "firstName"), ("last_name", "lastName")):
        for key in keys:
            value = traits.get(key)
            if isinstance(value, str) and value.strip():
                parts.append(value.strip())
                break
    return " ".join(parts)[:255]


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or abs(amount) >= ORDER_AMOUNT_LIMIT:
        return None
    return amount.quantize(CENTS, rounding=ROUND_HALF_UP)


def _order_id(properties: dict[str, Any]) -> str:
    for key in ("order_id", "orderId", "checkout_id"):
        value = properties.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()[:255]
    return ""


def _items_total(products: Any) -> Decimal | None:
    if not isinstance(products, list):
        return None
    total = Decimal(0)
    found = False
    for item in products:
        if not isinstance(item, dict):
            continue
        price = _amount(item.get("price"))
        if price is None:
            continue
        quantity = _amount(item.get("quantity"))
        total += price * (quantity if quantity is not None and quantity > 0 else 1)
        found = True
    if not found or abs(total) >= ORDER_AMOUNT_LIMIT:
        return None
    return total.quantize(CENTS)


def order_amount(properties: dict[str, Any]) -> Decimal | None:
    """An order's value by the e-commerce spec: `total`, else `revenue`, else its items."""
    for key in ("total", "revenue", "value"):
        amount = _amount(properties.get(key))
        if amount is not None:
            return amount
    return _items_total(properties.get("products"))


def currency_of(properties: dict[str, Any]) -> str:
    value = properties.get("currency")
    if isinstance(value, str) and len(value.strip()) == 3 and value.strip().isalpha():
        return value.strip().upper()
    return settings.SITE_CURRENCY


def has_rate(currency: str) -> bool:
    return currency == settings.SITE_CURRENCY or currency in settings.CURRENCY_RATES


def rate_to_site_currency(currency: str) -> Decimal:
    """How much one unit of `currency` is worth in the site's currency (CURRENCY_RATES);
    a currency with no rate counts one for one, and docs/profiles.md says so."""
    if currency == settings.SITE_CURRENCY:
        return Decimal(1)
    return settings.CURRENCY_RATES.get(currency, Decimal(1))


def _week(at: datetime) -> str:
    day = timezone.localtime(at).date()
    return (day - timedelta(days=day.weekday())).isoformat()


def _decay(days: float) -> float:
    return math.pow(0.5, days / settings.ENGAGEMENT_HALF_LIFE_DAYS)


# --- The fold --------------------------------------------------------------------------------


@dataclass
class _Changes:
    """What a batch did to one profile besides its own fields."""

    consent: list[ConsentChange] = field(default_factory=list)
    orders_touched: bool = False


@dataclass
class _OrderEvent:
    profile_id: int
    role: str
    order_id: str
    at: datetime
    amount: Decimal | None
    currency: str
    products: list[Any]
    message_id: str


class ProfileFold:
    """Folds events, oldest first, into one profile's traits, consent and computed values.

    Every step is order-independent where it matters: traits and consent keep the value with
    the newest event time, counts add, first/last seen take min/max, and the engagement score
    is kept as of its newest event, so a late-arriving older event decays in correctly.
    """

    def __init__(self, profile: Profile, *, source_names: dict[int, str]) -> None:
        self.profile = profile
        self.source_names = source_names
        self.changes = _Changes()

    def fold(
        self,
        event: Event,
        meaning: ActivityMeaning | None,
        items: Sequence[Any],
    ) -> None:
        profile, at = self.profile, event.timestamp
        profile.event_count += 1
        profile.first_seen = at if profile.first_seen is None else min(profile.first_seen, at)
        profile.last_seen = at if profile.last_seen is None else max(profile.last_seen, at)
        if event.type == "identify" and isinstance(event.traits, dict):
            self._traits(event)
        if meaning is None:
            return
        self._engagement(at, meaning.points)
        weight = PREFERENCE_WEIGHTS.get(meaning.role)
        if weight:
            self._preferences(items, weight)
        if meaning.role == Role.PRODUCT_VIEWED:
            self._viewed(items, at)

    def _traits(self, event: Event) -> None:
        profile, at = self.profile, event.timestamp
        stamp = at.isoformat()
        traits, times = dict(profile.traits), dict(profile.trait_times)
        for key, value in event.traits.items():
            if key in times and times[key] > stamp:
                continue
            traits[key], times[key] = value, stamp
        profile.traits, profile.trait_times = traits, times
        profile.name = profile_name(traits)
        for channel, keys in CONSENT_TRAITS.items():
            for key in keys:
                if key not in event.traits:
                    continue
                state = consent_state(event.traits[key])
                if state is not None:
                    self._consent(channel, state, at, f"{key} trait", event)
                break

    def _consent(self, channel: str, state: str, at: datetime, how: str, event: Event) -> None:
        profile = self.profile
        current_at = getattr(profile, f"{channel}_consent_at")
        if current_at is not None and current_at > at:
            return  # a newer decision stands
        if getattr(profile, f"{channel}_consent") == state and current_at is not None:
            return  # said again: the first time it was given is what counts
        setattr(profile, f"{channel}_consent", state)
        setattr(profile, f"{channel}_consent_at", at)
        source = self.source_names.get(event.source_id, "")
        self.changes.consent.append(
            ConsentChange(
                profile_id=profile.pk,
                channel=channel,
                state=state,
                at=at,
                how=f"{how} on identify from {source}" if source else f"{how} on identify",
                message_id=event.message_id,
            )
        )

    def _engagement(self, at: datetime, points: float) -> None:
        profile = self.profile
        if not points:
            return
        if profile.engagement_at is None:
            profile.engagement_score, profile.engagement_at = points, at
        elif at <= profile.engagement_at:
            days = (profile.engagement_at - at).total_seconds() / 86400
            profile.engagement_score += points * _decay(days)
        else:
            days = (at - profile.engagement_at).total_seconds() / 86400
            profile.engagement_score = profile.engagement_score * _decay(days) + points
            profile.engagement_at = at
        weeks = dict(profile.engagement_weeks)
        week = _week(at)
        weeks[week] = round(weeks.get(week, 0) + points, 3)
        profile.engagement_weeks = dict(sorted(weeks.items())[-ENGAGEMENT_WEEKS_KEPT:])

    def _preferences(self, items: Sequence[Any], weight: float) -> None:
        preferences = {
            "categories": dict(self.profile.preferences.get("categories", {})),
            "brands": dict(self.profile.preferences.get("brands", {})),
        }
        changed = False
        for item in items:
            for dimension, value in (("categories", item.category), ("brands", item.brand)):
                if value:
                    counts = preferences[dimension]
                    counts[value] = round(counts.get(value, 0) + weight, 3)
                    changed = True
        if changed:
            self.profile.preferences = {
                dimension: _top(counts) for dimension, counts in preferences.items() if counts
            }

    def _viewed(self, items: Sequence[Any], at: datetime) -> None:
        if not items:
            return
        viewed = {entry["key"]: entry["at"] for entry in self.profile.last_viewed}
        stamp = at.isoformat()
        for item in items:
            if viewed.get(item.key, "") < stamp:
                viewed[item.key] = stamp
        newest = sorted(viewed.items(), key=lambda kv: kv[1], reverse=True)
        self.profile.last_viewed = [
            {"key": key, "at": when} for key, when in newest[: settings.PROFILE_LAST_VIEWED]
        ]


def _top(counts: dict[str, float]) -> dict[str, float]:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return dict(ranked[:PREFERENCES_KEPT])


@dataclass
class _Item:
    key: str
    category: str
    brand: str


def _items_by_event(
    events: Sequence[Event], meanings: dict[tuple[str, str], ActivityMeaning]
) -> dict[int, list[_Item]]:
    """Each product event's items, with category and brand filled from the product catalog
    where the event left them out (one query)."""
    wanted = set(PREFERENCE_WEIGHTS)
    found: dict[int, list[Any]] = {}
    for event in events:
        meaning = _meaning(meanings, event)
        if meaning and meaning.role in wanted:
            found[event.pk] = products_in_event(event)
    missing = {v.key for values in found.values() for v in values if not (v.category and v.brand)}
    catalog = {}
    if missing:
        catalog = {
            p.key: p
            for p in Product.objects.filter(key__in=missing).only("key", "category", "brand")
        }
    items: dict[int, list[_Item]] = {}
    for event_id, values in found.items():
        items[event_id] = []
        for v in values:
            known = catalog.get(v.key)
            items[event_id].append(
                _Item(
                    key=v.key,
                    category=v.category or (known.category if known else ""),
                    brand=v.brand or (known.brand if known else ""),
                )
            )
    return items


def _order_event(event: Event, role: str) -> _OrderEvent | None:
    if event.profile_id is None:
        return None  # profiles_update folds only events of a profile
    properties = event.properties if isinstance(event.properties, dict) else {}
    order_id = _order_id(properties)
    if not order_id:
        if role != Role.ORDER_COMPLETED:
            return None  # a refund or cancellation of no named order changes nothing
        order_id = f"message:{event.source_id}:{event.message_id}"[:255]
    products = properties.get("products")
    return _OrderEvent(
        profile_id=event.profile_id,
        role=role,
        order_id=order_id,
        at=event.timestamp,
        amount=order_amount(properties),
        currency=currency_of(properties),
        products=products if isinstance(products, list) else [],
        message_id=event.message_id,
    )


# --- The processor ---------------------------------------------------------------------------


def profiles_update(events: Sequence[Event]) -> None:
    """The ingest processor: fold a batch of stored events into their profiles."""
    events = [event for event in events if event.profile_id is not None]
    if not events:
        return
    events.sort(key=lambda e: (e.timestamp, e.pk))
    meanings = activity_meanings(events)
    items = _items_by_event(events, meanings)
    orders: list[_OrderEvent] = []
    for event in events:
        meaning = _meaning(meanings, event)
        if meaning and meaning.role in _ORDER_ROLES:
            order = _order_event(event, meaning.role)
            if order:
                orders.append(order)
    # A refund or cancellation changes the totals of the order's owner, who may be another
    # profile than the event's: it is locked with the batch's own.
    owners = orders_owners(
        sorted({o.order_id for o in orders if o.role != Role.ORDER_COMPLETED})
    ).values()
    # cast: the events of no profile were dropped above.
    profile_ids = sorted({cast(int, event.profile_id) for event in events} | set(owners))
    # Locked in id order, so two workers folding overlapping batches cannot deadlock.
    profiles = {
        p.pk: p
        # NO KEY UPDATE (only non-key columns change): an ingest committing events of these
        # profiles checks their foreign keys with KEY SHARE, which this lock does not block.
        for p in Profile.objects.select_for_update(no_key=True)
        .filter(pk__in=profile_ids)
        .order_by("pk")
    }
    source_names = _source_names(events)
    folds = {
        pk: ProfileFold(profile, source_names=source_names) for pk, profile in profiles.items()
    }
    for event in events:
        fold = folds.get(cast(int, event.profile_id))
        if fold is None:
            continue  # deleted since
        fold.fold(event, _meaning(meanings, event), items.get(event.pk, []))
    orders = [o for o in orders if o.profile_id in profiles]
    if orders:
        orders_apply(orders)
        touched = {o.profile_id for o in orders} | set(owners)
        _order_totals_into([profiles[pk] for pk in sorted(touched) if pk in profiles])
    now = timezone.now()
    for fold in folds.values():
        fold.profile.computed_at = now
    profiles_write(list(profiles.values()))
    consent = [change for fold in folds.values() for change in fold.changes.consent]
    if consent:
        ConsentChange.objects.bulk_create(consent)


_ORDER_ROLES = {Role.ORDER_COMPLETED, Role.ORDER_REFUNDED, Role.ORDER_CANCELLED}


def profiles_write(profiles: Sequence[Profile]) -> None:
    """Write the computed fields of many profiles in one statement.

    `UPDATE … FROM jsonb_to_recordset(…)` rather than `bulk_update`: the latter writes one
    `CASE WHEN id = …` per profile and field, which Postgres evaluates row by row, so its
    cost grows with the square of the batch. The rows travel as one JSON document, encoded
    in C: arrays would be quoted value by value in Python.
    """
    if not profiles:
        return
    rows = [{"id": p.pk, **{f.column: getattr(p, f.attname) for f in _WRITTEN}} for p in profiles]
    with prepared_cursor() as cursor:
        cursor.execute(_WRITE_PROFILES, [json_text(rows)])


def _column(name: str) -> Field[Any, Any]:
    field = Profile._meta.get_field(name)
    assert isinstance(field, Field), f"{name} is a relation, not a column"
    return field


_WRITTEN = [_column(name) for name in COMPUTED_FIELDS]
# Column names and types come from the model, never from input.
_WRITE_PROFILES = f"""
    UPDATE profiles_profile p SET {", ".join(f"{f.column} = t.{f.column}" for f in _WRITTEN)}
    FROM jsonb_to_recordset(%s::jsonb)
        AS t(id bigint, {", ".join(f"{f.column} {sql_type(f)}" for f in _WRITTEN)})
    WHERE p.id = t.id
"""  # noqa: S608


def _source_names(events: Sequence[Event]) -> dict[int, str]:
    if not any(event.type == "identify" for event in events):
        return {}
    ids = {event.source_id for event in events if event.type == "identify"}
    return dict(Source.objects.filter(pk__in=ids).values_list("pk", "name"))


# --- Orders ----------------------------------------------------------------------------------

_UPSERT_COMPLETED = """
INSERT INTO profiles_order AS o
    (profile_id, order_id, placed_at, status, currency, total, refunded, rate, net_revenue,
     products, message_id)
SELECT profile_id, order_id, placed_at, 'completed', currency, total, 0, rate,
       round(total * rate, 2), products, message_id
FROM jsonb_to_recordset(%s::jsonb)
    AS t(profile_id bigint, order_id text, placed_at timestamptz, currency text, total numeric,
         rate numeric, products jsonb, message_id text)
ON CONFLICT (order_id) DO UPDATE SET
    -- Only a row that a refund or cancellation made before its order arrived is filled in;
    -- the same order sent twice, or by two sources, stays as first stored.
    profile_id = excluded.profile_id,
    placed_at = excluded.placed_at,
    refunded = least(o.refunded, excluded.total),
    currency = excluded.currency,
    total = excluded.total,
    rate = excluded.rate,
    products = excluded.products,
    message_id = excluded.message_id,
    net_revenue = CASE WHEN o.status = 'cancelled' THEN 0
                       ELSE round(greatest(excluded.total - o.refunded, 0) * excluded.rate, 2)
                  END,
    status = CASE WHEN o.status = 'cancelled' THEN 'cancelled'
                  WHEN o.refunded >= excluded.total THEN 'refunded'
                  WHEN o.refunded > 0 THEN 'partly_refunded'
                  ELSE 'completed' END
WHERE o.message_id = ''
"""


def orders_apply(orders: Sequence[_OrderEvent]) -> None:
    """Store completed orders (one per order id) and apply refunds and cancellations, each
    in one statement whatever the batch's size."""
    completed: dict[str, _OrderEvent] = {}
    for order in orders:
        if order.role == Role.ORDER_COMPLETED and order.order_id not in completed:
            completed[order.order_id] = order
    if completed:
        rows = [completed[key] for key in sorted(completed)]
        document = json_text(
            [
                {
                    "profile_id": o.profile_id,
                    "order_id": o.order_id,
                    "placed_at": o.at,
                    "currency": o.currency,
                    "total": o.amount or Decimal(0),
                    "rate": rate_to_site_currency(o.currency),
                    "products": o.products,
                    "message_id": o.message_id,
                }
                for o in rows
            ]
        )
        with prepared_cursor() as cursor:
            cursor.execute(_UPSERT_COMPLETED, [document])
    changes: dict[str, _OrderChange] = {}
    for order in orders:
        if order.role == Role.ORDER_COMPLETED:
            continue
        change = changes.setdefault(order.order_id, _OrderChange(order=order))
        if order.role == Role.ORDER_CANCELLED:
            change.cancel = True
        elif order.amount is None:
            change.refund = FULL_REFUND
        else:  # a negative amount is no refund
            change.refund = min(FULL_REFUND, change.refund + max(order.amount, Decimal(0)))
    if changes:
        rows_ = [changes[key] for key in sorted(changes)]
        with connection.cursor() as cursor:
            cursor.execute(
                _APPLY_REFUNDS,
                [
                    [c.order.profile_id for c in rows_],
                    [c.order.order_id for c in rows_],
                    [c.order.at for c in rows_],
                    [c.order.currency for c in rows_],
                    [rate_to_site_currency(c.order.currency) for c in rows_],
                    [c.refund for c in rows_],
                    [c.cancel for c in rows_],
                ],
            )


# A refund that names no amount refunds the whole order, whatever it turns out to be.
FULL_REFUND = Decimal("100000000000")


@dataclass
class _OrderChange:
    order: _OrderEvent
    refund: Decimal = Decimal(0)
    cancel: bool = False


# Refunds add up, never past the order's total; a cancellation makes the order worth
# nothing. A refund or cancellation of an order not stored yet leaves a placeholder row
# (empty message id) that the order fills in when it arrives (_UPSERT_COMPLETED).
_REFUNDED = f"""CASE WHEN o.message_id = ''
                    THEN least(o.refunded + excluded.refunded, {FULL_REFUND})
                 ELSE least(o.total, o.refunded + excluded.refunded) END"""
_APPLY_REFUNDS = f"""
INSERT INTO profiles_order AS o
    (profile_id, order_id, placed_at, status, currency, total, refunded, rate, net_revenue,
     products, message_id)
SELECT profile_id, order_id, placed_at, CASE WHEN cancel THEN 'cancelled' ELSE 'refunded' END,
       currency, 0, refund, rate, 0, '[]'::jsonb, ''
FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::text[], %s::numeric[],
            %s::numeric[], %s::boolean[])
    AS t(profile_id, order_id, placed_at, currency, rate, refund, cancel)
ON CONFLICT (order_id) DO UPDATE SET
    refunded = {_REFUNDED},
    status = CASE WHEN o.status = 'cancelled' OR excluded.status = 'cancelled' THEN 'cancelled'
                  WHEN o.message_id = '' THEN 'refunded'
                  WHEN {_REFUNDED} >= o.total THEN 'refunded'
                  WHEN {_REFUNDED} > 0 THEN 'partly_refunded'
                  ELSE o.status END,
    net_revenue = CASE WHEN o.status = 'cancelled' OR excluded.status = 'cancelled'
                         OR o.message_id = '' THEN 0
                       ELSE round(greatest(o.total - {_REFUNDED}, 0) * o.rate, 2) END
"""  # noqa: S608 - no input in the text: FULL_REFUND is a constant


def orders_owners(order_ids: Sequence[str]) -> dict[str, int]:
    """The profiles that hold these orders now (a refund may come from another profile
    than the buyer's, a back office for instance)."""
    if not order_ids:
        return {}
    return dict(
        Order.objects.filter(order_id__in=list(order_ids)).values_list("order_id", "profile_id")
    )


def _order_totals_into(profiles: Sequence[Profile]) -> None:
    """Orders, revenue, average order value and last order, from the orders table (one
    query): orders that stand count, that is neither cancelled nor fully refunded."""
    standing = Q(status__in=[Order.Status.COMPLETED, Order.Status.PARTLY_REFUNDED])
    totals = {
        row["profile_id"]: row
        for row in Order.objects.filter(profile_id__in=[p.pk for p in profiles])
        .exclude(message_id="")
        .values("profile_id")
        .annotate(
            orders=Count("pk", filter=standing),
            revenue=Sum("net_revenue"),
            last=Max("placed_at", filter=standing),
        )
    }
    for profile in profiles:
        row = totals.get(profile.pk)
        profile.orders_count = row["orders"] if row else 0
        profile.revenue = (row["revenue"] or Decimal(0)) if row else Decimal(0)
        profile.last_order_at = row["last"] if row else None
        profile.average_order_value = (
            (profile.revenue / profile.orders_count).quantize(CENTS)
            if profile.orders_count
            else None
        )


# --- Whole-history recompute -----------------------------------------------------------------

ENGAGEMENT_FIELDS = ("engagement_score", "engagement_at", "engagement_weeks")


@transaction.atomic
def profile_recompute(
    *, profile_id: int, only: Sequence[str] | None = None, chunk: int = 2000
) -> Profile:
    """Fold a profile's stored history again, through the same code as the processor: all
    its computed attributes, or `only` some (the engagement, after an activity's points
    changed). The profile row is locked first: a processor folding new events into it
    waits, and its events, not yet marked processed, are not counted here.

    What events no longer show stays as it was: traits are folded on top of the ones kept
    (newest still wins, so the same events give the same values), and consent is what its
    history says last, which holds what a marketer recorded on the profile page too.
    """
    profile = Profile.objects.select_for_update(no_key=True).get(pk=profile_id)
    fresh = Profile(
        pk=profile.pk, traits=dict(profile.traits), trait_times=dict(profile.trait_times)
    )
    fold = ProfileFold(fresh, source_names={})
    events = (
        Event.objects.filter(profile_id=profile_id, processed_at__isnull=False)
        .order_by("timestamp", "pk")
        .iterator(chunk_size=chunk)
    )
    batch: list[Event] = []
    for event in events:
        batch.append(event)
        if len(batch) >= chunk:
            _fold_batch(fold, batch)
            batch = []
    _fold_batch(fold, batch)
    # Consent as its history says: the last decision, since the first time it was given.
    state: dict[str, tuple[str, datetime | None]] = {
        channel: (Consent.UNKNOWN, None) for channel in ConsentChange.Channel.values
    }
    history = ConsentChange.objects.filter(profile_id=profile_id).order_by("at", "pk")
    for change in history.only("channel", "state", "at"):
        if state[change.channel][0] != change.state:
            state[change.channel] = (change.state, change.at)
    for channel, (decision, since) in state.items():
        setattr(fresh, f"{channel}_consent", decision)
        setattr(fresh, f"{channel}_consent_at", since)
    _order_totals_into([fresh])
    fields = list(only) if only else [f for f in COMPUTED_FIELDS if f != "computed_at"]
    for name in fields:
        setattr(profile, name, getattr(fresh, name))
    profile.computed_at = timezone.now()
    profile.save(update_fields=[*fields, "computed_at"])
    return profile


def profiles_recompute_stale() -> int:
    """Compute the attributes of profiles whose events were processed before computed
    attributes existed (a database from an earlier version); `make run` calls it on start."""
    stale = (
        Profile.objects.filter(computed_at__isnull=True, events__processed_at__isnull=False)
        .values_list("pk", flat=True)
        .distinct()
    )
    count = 0
    for profile_id in stale.iterator():
        profile_recompute(profile_id=profile_id)
        count += 1
    return count


def _fold_batch(fold: ProfileFold, events: list[Event]) -> None:
    if not events:
        return
    fold.source_names = _source_names(events)
    meanings = activity_meanings(events)
    items = _items_by_event(events, meanings)
    for event in events:
        fold.fold(event, _meaning(meanings, event), items.get(event.pk, []))
    # Consent history is already stored; a recompute only restates the current state.
    fold.changes.consent.clear()


# --- Merges ----------------------------------------------------------------------------------


def profile_computed_merge(*, survivor: Profile, loser: Profile) -> None:
    """Fold the merged profile's computed values into the survivor's (its orders, notes and
    consent history have moved already). Every value combines exactly: counts add,
    first/last seen take min/max, the newer consent wins, preferences add, the engagement
    score is decayed to the later time and added."""
    survivor.event_count += loser.event_count
    for name, pick in (("first_seen", min), ("last_seen", max)):
        values = [v for v in (getattr(survivor, name), getattr(loser, name)) if v is not None]
        setattr(survivor, name, pick(values) if values else None)
    for channel in ConsentChange.Channel.values:
        theirs = getattr(loser, f"{channel}_consent_at")
        ours = getattr(survivor, f"{channel}_consent_at")
        same = getattr(loser, f"{channel}_consent") == getattr(survivor, f"{channel}_consent")
        # A newer decision wins; the same decision counts from when it was first given.
        if theirs is not None and (ours is None or (theirs < ours if same else theirs > ours)):
            setattr(survivor, f"{channel}_consent", getattr(loser, f"{channel}_consent"))
            setattr(survivor, f"{channel}_consent_at", theirs)
    preferences = {}
    for dimension in ("categories", "brands"):
        counts = dict(survivor.preferences.get(dimension, {}))
        for key, value in loser.preferences.get(dimension, {}).items():
            counts[key] = round(counts.get(key, 0) + value, 3)
        if counts:
            preferences[dimension] = _top(counts)
    survivor.preferences = preferences
    viewed = {entry["key"]: entry["at"] for entry in survivor.last_viewed}
    for entry in loser.last_viewed:
        if viewed.get(entry["key"], "") < entry["at"]:
            viewed[entry["key"]] = entry["at"]
    newest = sorted(viewed.items(), key=lambda kv: kv[1], reverse=True)
    survivor.last_viewed = [
        {"key": k, "at": at} for k, at in newest[: settings.PROFILE_LAST_VIEWED]
    ]
    survivor.engagement_score, survivor.engagement_at = _engagement_sum(
        (survivor.engagement_score, survivor.engagement_at),
        (loser.engagement_score, loser.engagement_at),
    )
    weeks = dict(survivor.engagement_weeks)
    for week, points in loser.engagement_weeks.items():
        weeks[week] = round(weeks.get(week, 0) + points, 3)
    survivor.engagement_weeks = dict(sorted(weeks.items())[-ENGAGEMENT_WEEKS_KEPT:])
    survivor.name = profile_name(survivor.traits)
    _order_totals_into([survivor])
    survivor.computed_at = timezone.now()


def _engagement_sum(
    a: tuple[float, datetime | None], b: tuple[float, datetime | None]
) -> tuple[float, datetime | None]:
    times = [at for _, at in (a, b) if at is not None]
    if not times:
        return 0.0, None
    latest = max(times)
    total = 0.0
    for score, at in (a, b):
        if at is not None:
            total += score * _decay((latest - at).total_seconds() / 86400)
    return total, latest


# --- On a schedule ---------------------------------------------------------------------------


def profiles_engagement_decay(*, now: datetime | None = None) -> int:
    """Decay every score to now, so that segments compare scores of one time (one
    statement; Celery beat runs it hourly)."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE profiles_profile
               SET engagement_score = engagement_score
                       * power(0.5, extract(epoch FROM (%s - engagement_at)) / 86400.0 / %s),
                   engagement_at = %s
             WHERE engagement_at < %s AND engagement_score <> 0
            """,
            [now, float(settings.ENGAGEMENT_HALF_LIFE_DAYS), now, now],
        )
        return cursor.rowcount


def engagement_now(profile: Profile, *, now: datetime | None = None) -> float:
    """The profile's engagement score decayed to now."""
    if profile.engagement_at is None:
        return 0.0
    days = max(((now or timezone.now()) - profile.engagement_at).total_seconds(), 0) / 86400
    return profile.engagement_score * _decay(days)


def profiles_rfm_refresh(*, now: datetime | None = None) -> int:
    """Score every customer with orders 1 to 5 on recency, frequency and money.

    The rule (docs/profiles.md): over all profiles with at least one standing order, each
    measure is ranked (`percent_rank`, so equal values get equal scores) and cut into five
    equal bands: score = 1 + floor(percent_rank * 5), at most 5. Recency ranks the last
    order time (most recent = 5), frequency the number of orders, money the net revenue.
    Profiles without orders have no score.
    """
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH ranked AS (
                SELECT id,
                       least(5, 1 + floor(percent_rank() OVER (ORDER BY last_order_at) * 5))
                           AS r,
                       least(5, 1 + floor(percent_rank() OVER (ORDER BY orders_count) * 5))
                           AS f,
                       least(5, 1 + floor(percent_rank() OVER (ORDER BY revenue) * 5)) AS m
                  FROM profiles_profile
                 WHERE orders_count > 0 AND last_order_at IS NOT NULL
            )
            UPDATE profiles_profile p
               SET rfm_recency = ranked.r, rfm_frequency = ranked.f, rfm_monetary = ranked.m,
                   rfm_score = ranked.r::int::text || ranked.f::int::text || ranked.m::int::text,
                   rfm_at = %s
              FROM ranked
             WHERE p.id = ranked.id
            """,
            [now],
        )
        scored = cursor.rowcount
        cursor.execute(
            """
            UPDATE profiles_profile
               SET rfm_recency = NULL, rfm_frequency = NULL, rfm_monetary = NULL,
                   rfm_score = '', rfm_at = %s
             WHERE rfm_score <> '' AND NOT (orders_count > 0 AND last_order_at IS NOT NULL)
            """,
            [now],
        )
    logger.info("profiles_rfm_refreshed scored=%s", scored)
    return scored


def engagement_points_changed(*, activity_ids: Sequence[int]) -> int:
    """Recompute the profiles that did the given activities, after their points changed."""
    keys = list(Activity.objects.filter(pk__in=activity_ids).values_list("kind", "name"))
    condition = Q()
    for kind, name in keys:
        condition |= Q(type=kind, name=name) if kind == "track" else Q(type=kind)
    if not keys:
        return 0
    profile_ids = (
        Event.objects.filter(condition, profile__isnull=False)
        .values_list("profile_id", flat=True)
        .distinct()
    )
    count = 0
    for profile_id in profile_ids.iterator():
        profile_recompute(profile_id=profile_id, only=ENGAGEMENT_FIELDS)
        count += 1
    return count
