"""Orders, refunds and cancellations: an order's value and currency read from its event, the
orders table kept set-based, and the order totals of a profile (count, revenue, average
order value, last order) read back from it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Q, Sum

from cdp_project.core.jsontext import json_text
from cdp_project.core.prepared import prepared_cursor
from ingestion.amounts import ORDER_AMOUNT_LIMIT
from ingestion.models import CommerceRole, Event
from profiles.models import Order, Profile

Role = CommerceRole


CENTS = Decimal("0.01")


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


@dataclass
class OrderEvent:
    profile_id: int
    role: str
    order_id: str
    at: datetime
    amount: Decimal | None
    currency: str
    products: list[Any]
    message_id: str


def order_event(event: Event, role: str) -> OrderEvent | None:
    assert event.profile_id is not None, "the processor folds only events of a profile"
    properties = event.properties if isinstance(event.properties, dict) else {}
    order_id = _order_id(properties)
    if not order_id:
        if role != Role.ORDER_COMPLETED:
            return None  # a refund or cancellation of no named order changes nothing
        order_id = f"message:{event.source_id}:{event.message_id}"[:255]
    products = properties.get("products")
    return OrderEvent(
        profile_id=event.profile_id,
        role=role,
        order_id=order_id,
        at=event.timestamp,
        amount=order_amount(properties),
        currency=currency_of(properties),
        products=products if isinstance(products, list) else [],
        message_id=event.message_id,
    )


ORDER_ROLES = {Role.ORDER_COMPLETED, Role.ORDER_REFUNDED, Role.ORDER_CANCELLED}


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


def orders_apply(orders: Sequence[OrderEvent]) -> None:
    """Store completed orders (one per order id) and apply refunds and cancellations, each
    in one statement whatever the batch's size."""
    completed: dict[str, OrderEvent] = {}
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
    order: OrderEvent
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


def order_totals_into(profiles: Sequence[Profile]) -> None:
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
