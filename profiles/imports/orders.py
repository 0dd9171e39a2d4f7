"""Past orders from CSV: Order Completed at its date, and Order Refunded or Order Cancelled
for its status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO

from ingestion.amounts import ORDER_AMOUNT_LIMIT
from profiles.computed import profiles_rfm_refresh
from profiles.imports.files import aliases, normalise, open_csv
from profiles.imports.pipeline import Pipeline, Record, message_context
from profiles.imports.report import ImportRefused, ImportReport
from profiles.imports.values import (
    Invalid,
    digest,
    iso,
    json_number,
    message_ids,
    parse_amount,
    parse_currency,
    parse_email,
    parse_id,
    parse_quantity,
    parse_when,
)

ORDER_ALIASES = aliases(
    {
        "order_id": "id order orderid order_number order_no order_name",
        "user_id": "customer_id customerid customer userid",
        "anonymous_id": "anonymousid",
        "email": "e_mail email_address customer_email",
        "placed_at": (
            "date order_date created_at created placed placed_on ordered_at processed_at "
            "paid_at purchase_date timestamp"
        ),
        "total": "order_total total_price grand_total amount order_amount value revenue",
        "currency": "currency_code",
        "sku": "item_sku product_sku lineitem_sku",
        "product_id": "item_id productid",
        "name": "product_name item_name product title lineitem_name",
        "price": "item_price unit_price lineitem_price",
        "quantity": "qty item_quantity lineitem_quantity",
        "category": "product_category",
        "brand": "vendor manufacturer",
        "status": "order_status financial_status state",
        "refunded": "refund_amount refunded_amount amount_refunded refund",
        "status_at": "refunded_at cancelled_at canceled_at refund_date status_date",
    }
)
ORDER_COLUMNS = {
    "order_id",
    "user_id",
    "email",
    "anonymous_id",
    "placed_at",
    "total",
    "currency",
    "status",
    "refunded",
    "status_at",
}
ITEM_COLUMNS = ("sku", "product_id", "name", "price", "quantity", "category", "brand")
ORDER_SAMPLE_HEADER = (
    "order_id,user_id,email,placed_at,total,currency,sku,name,price,quantity,category,brand,"
    "status,refunded"
)
_STATUSES = {
    "completed": "completed",
    "complete": "completed",
    "paid": "completed",
    "fulfilled": "completed",
    "closed": "completed",
    "refunded": "refunded",
    "refund": "refunded",
    "partially_refunded": "partly_refunded",
    "partly_refunded": "partly_refunded",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "cancel": "cancelled",
    "voided": "cancelled",
    "void": "cancelled",
}


@dataclass
class _Order:
    order_id: str
    lines: list[int] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    first_line: dict[str, int] = field(default_factory=dict)
    items: list[dict[str, str]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, values: dict[str, str]) -> None:
        self.lines.append(line)
        for name in ORDER_COLUMNS:
            value = values.get(name, "")
            if not value:
                continue
            if name in self.fields and self.fields[name] != value:
                self.errors.append(
                    (
                        line,
                        f"{name} “{value[:40]}” differs from “{self.fields[name][:40]}” on line "
                        f"{self.first_line[name]} of the same order.",
                    )
                )
            elif name not in self.fields:
                self.fields[name], self.first_line[name] = value, line
        item = {name: values[name] for name in ITEM_COLUMNS if values.get(name)}
        if item:
            self.items.append({**item, "_line": str(line)})


def _order_messages(order: _Order, pipeline: Pipeline) -> Record:
    values = order.fields
    if len(order.order_id) > 255:
        raise Invalid("order_id is longer than 255 characters.")
    user_id = parse_id(values.get("user_id", ""), "user_id")
    anonymous_id = parse_id(values.get("anonymous_id", ""), "anonymous_id")
    email = parse_email(values.get("email", ""))
    if not (user_id or email or anonymous_id):
        raise Invalid("The order has no customer: give a user_id or an email.")
    placed_at = parse_when(values.get("placed_at", ""), "placed_at")
    if placed_at is None:
        raise Invalid("The order has no placed_at date.")
    currency = parse_currency(values.get("currency", ""))
    status = normalise(values.get("status", "")) or "completed"
    if status not in _STATUSES:
        raise Invalid(
            f"status “{values['status'][:40]}” is not one of completed, refunded, cancelled."
        )
    status = _STATUSES[status]
    status_at = parse_when(values.get("status_at", ""), "status_at") or placed_at
    products = []
    items_total = Decimal(0)
    for item in order.items:
        product: dict[str, Any] = {}
        for name in ("sku", "product_id", "name", "category", "brand"):
            if item.get(name):
                product[name] = item[name]
        try:
            price = parse_amount(item.get("price", ""), "price")
            quantity = parse_quantity(item.get("quantity", ""))
        except Invalid as invalid:
            raise Invalid(f"{invalid} (line {item['_line']})") from None
        if price is not None:
            product["price"] = json_number(price)
            items_total += price * (quantity or 1)
        if quantity is not None:
            product["quantity"] = quantity
        products.append(product)
    total = parse_amount(values.get("total", ""), "total")
    if total is None:
        if not any("price" in p for p in products):
            raise Invalid("The order has no total, and its items no price.")
        total = items_total
    if total >= ORDER_AMOUNT_LIMIT:
        raise Invalid(f"The order's total {total:,f} is not below {ORDER_AMOUNT_LIMIT:,f}.")
    refunded = parse_amount(values.get("refunded", ""), "refunded")
    if refunded is not None and refunded > total:
        raise Invalid(f"refunded {refunded} is more than the order's total {total}.")
    if status == "refunded" and refunded is None:
        refunded = total
    if status == "partly_refunded" and not refunded:
        raise Invalid("A partly refunded order needs the amount refunded (a refunded column).")

    ids = message_ids(user_id=user_id, email=email, anonymous_id=anonymous_id)
    key = order.order_id
    messages: list[dict[str, Any]] = []
    if email:
        # The customer's email, so the order finds (or makes) the profile that has it.
        identify = {"type": "identify", **ids, "traits": {"email": email}}
        identify["messageId"] = f"csv-customer-{digest(identify)}"
        identify["timestamp"] = iso(placed_at)
        identify["context"] = message_context()
        messages += pipeline.shared(identify)
    properties: dict[str, Any] = {
        "order_id": key,
        "total": json_number(total),
        "revenue": json_number(total),
    }
    if currency:
        properties["currency"] = currency
    if products:
        properties["products"] = products
    completed: dict[str, Any] = {
        "type": "track",
        "event": "Order Completed",
        **ids,
        "properties": properties,
        "timestamp": iso(placed_at),
        # One per order id: an order is imported once; a corrected file does not add it again.
        "messageId": f"csv-order-completed-{digest(key)}",
        "context": message_context(),
    }
    counted = [completed]
    if status == "cancelled":
        counted.append(
            {
                "type": "track",
                "event": "Order Cancelled",
                **ids,
                "properties": {"order_id": key, **({"currency": currency} if currency else {})},
                "timestamp": iso(status_at),
                "messageId": f"csv-order-cancelled-{digest(key)}",
                "context": message_context(),
            }
        )
    elif refunded:
        counted.append(
            {
                "type": "track",
                "event": "Order Refunded",
                **ids,
                "properties": {
                    "order_id": key,
                    "total": json_number(refunded),
                    **({"currency": currency} if currency else {}),
                },
                "timestamp": iso(status_at),
                # One per order, like the order itself: the file says how much was refunded
                # in all, and refunds add up, so a second one would count twice.
                "messageId": f"csv-order-refunded-{digest(key)}",
                "context": message_context(),
            }
        )
    messages += counted
    return Record(
        lines=list(order.lines),
        messages=messages,
        counted={m["messageId"] for m in counted},
        ids={("email", email)} if email else set(),
    )


def orders_import_csv(
    *,
    data: BinaryIO,
    max_bytes: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import past orders: one row per order, or one per line item with the order's rows
    next to each other. Each becomes an `Order Completed` at its date (and an `Order
    Refunded` or `Order Cancelled` for its status); an order with an error in any of its
    rows is refused whole, by line."""
    parsed = open_csv(data, aliases=ORDER_ALIASES, max_bytes=max_bytes)
    missing = [name for name in ("order_id", "placed_at") if name not in parsed.columns]
    if not {"user_id", "email", "anonymous_id"} & set(parsed.columns):
        missing.append("user_id or email")
    if missing:
        raise ImportRefused(
            "The header row needs "
            + ", ".join(missing)
            + " columns; found: "
            + ", ".join(h for h in parsed.headers if h)[:300]
            + "."
        )
    report = ImportReport(kind="orders")
    known = ORDER_COLUMNS | set(ITEM_COLUMNS)
    report.ignored_columns = [
        h for h, c in zip(parsed.headers, parsed.columns, strict=True) if h and c not in known
    ]
    pipeline = Pipeline(report, on_progress)
    done: dict[str, int] = {}  # order id → its first line, for orders already read
    current: _Order | None = None

    def finish(order: _Order | None) -> None:
        if order is None:
            return
        done[order.order_id] = order.lines[0]
        if order.errors:
            bad = {line for line, _ in order.errors}
            for line, reason in order.errors:
                report.refuse(line, reason)
            for line in order.lines:
                if line not in bad:
                    report.refuse(
                        line, f"Order {order.order_id[:40]} has an error on another line."
                    )
            return
        try:
            record = _order_messages(order, pipeline)
        except Invalid as invalid:
            for line in order.lines:
                report.refuse(line, str(invalid))
            return
        pipeline.add(record)

    for line, values in parsed.rows(data):
        report.rows += 1
        if isinstance(values, str):
            report.refuse(line, values)  # which order it belongs to cannot be told
            continue
        order_id = values.get("order_id", "")
        if not order_id:
            report.refuse(line, "The row has no order_id.")
            continue
        if current is None or order_id != current.order_id:
            finish(current)
            current = None
            if order_id in done:
                report.refuse(
                    line,
                    f"Order {order_id[:40]} already appeared above (line {done[order_id]}); "
                    "the rows of one order must be next to each other.",
                )
                continue
            current = _Order(order_id=order_id)
        current.add(line, values)
    finish(current)
    pipeline.flush()
    if report.imported:
        # Imported customers are scored with everyone at once, not at the next hourly run.
        profiles_rfm_refresh()
    return report
