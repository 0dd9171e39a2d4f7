"""The bound on an order's amount, checked when an order event arrives.

Revenue is kept in `numeric(24,2)` columns (an order, a profile's revenue and average).
One order may be worth less than ORDER_AMOUNT_LIMIT (1e12, either sign) in its own
currency; converted at any rate `CURRENCY_RATES` can hold and summed over a person's
orders, that fits. An amount past the bound is no real order: the event is refused by
index, with the field named, instead of being stored and failing when it is counted.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from ingestion.catalog.roles import CommerceRole, default_role
from ingestion.messages import Refused

ORDER_AMOUNT_LIMIT = Decimal("1e12")
ORDER_AMOUNT_KEYS = ("total", "revenue", "value")
_ORDER_ROLES = frozenset(
    {CommerceRole.ORDER_COMPLETED, CommerceRole.ORDER_REFUNDED, CommerceRole.ORDER_CANCELLED}
)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _out_of_range(field: str, amount: Decimal) -> Refused:
    return Refused(
        "amount_out_of_range",
        f"`properties.{field}` is {amount:,f}: an order's amount must lie between "
        f"-{ORDER_AMOUNT_LIMIT:,f} and {ORDER_AMOUNT_LIMIT:,f}, not included.",
    )


def order_amounts_check(*, kind: str, name: str, properties: dict[str, Any]) -> None:
    """Refuse an order event (by the spec's names) whose amount is past the bound: `total`,
    `revenue`, `value`, or its products' prices times quantities."""
    if default_role(kind, name) not in _ORDER_ROLES:
        return
    for key in ORDER_AMOUNT_KEYS:
        amount = _number(properties.get(key))
        if amount is not None and abs(amount) >= ORDER_AMOUNT_LIMIT:
            raise _out_of_range(key, amount)
    products = properties.get("products")
    if not isinstance(products, list):
        return
    total = Decimal(0)
    for item in products:
        if not isinstance(item, dict):
            continue
        price = _number(item.get("price"))
        if price is None:
            continue
        quantity = _number(item.get("quantity"))
        if abs(price) >= ORDER_AMOUNT_LIMIT or (
            quantity is not None and abs(quantity) >= ORDER_AMOUNT_LIMIT
        ):
            raise _out_of_range("products", price)
        total += price * (quantity if quantity is not None and quantity > 0 else 1)
        if abs(total) >= ORDER_AMOUNT_LIMIT:
            raise _out_of_range("products", total)
