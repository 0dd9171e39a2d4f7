"""How customers spread over the RFM cells: recency by frequency, for one monetary score or
all of them. Scores are the profiles' own (docs/profiles.md: recomputed hourly by beat)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Min, Sum

from profiles.models import Profile

SCORES = [1, 2, 3, 4, 5]


# A box of the grid: recency from, to, frequency from, to (scores, both ends included).
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class RfmGroup:
    """A named group of RFM cells, by recency and frequency (the widely used map of the 25
    cells into named customer groups; docs/analytics.md)."""

    slug: str
    name: str
    description: str
    boxes: tuple[Box, ...]

    def holds(self, recency: int, frequency: int) -> bool:
        return any(r1 <= recency <= r2 and f1 <= frequency <= f2 for r1, r2, f1, f2 in self.boxes)

    @property
    def rule(self) -> str:
        """The rule in words: "R 5, F 4-5", boxes joined by "or"."""
        return " or ".join(f"R {_span(r1, r2)}, F {_span(f1, f2)}" for r1, r2, f1, f2 in self.boxes)


def _span(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


# Every (recency, frequency) cell is in exactly one group (tests/analytics check it).
GROUPS: tuple[RfmGroup, ...] = (
    RfmGroup("champions", "Champions", "Bought lately and buy often.", ((5, 5, 4, 5),)),
    RfmGroup("loyal", "Loyal", "Buy often, and not long ago.", ((3, 4, 4, 5),)),
    RfmGroup(
        "potential-loyalist",
        "Potential loyalist",
        "Recent customers with a few orders.",
        ((4, 5, 2, 3),),
    ),
    RfmGroup("new", "New customers", "Their first order was very recent.", ((5, 5, 1, 1),)),
    RfmGroup("promising", "Promising", "Recent, one order so far.", ((4, 4, 1, 1),)),
    RfmGroup(
        "need-attention", "Need attention", "Middling recency and frequency.", ((3, 3, 3, 3),)
    ),
    RfmGroup("about-to-sleep", "About to sleep", "A while ago, and few orders.", ((3, 3, 1, 2),)),
    RfmGroup("at-risk", "At risk", "Used to buy fairly often; not lately.", ((1, 2, 3, 4),)),
    RfmGroup("cant-lose", "Can't lose them", "Bought most often, but long ago.", ((1, 2, 5, 5),)),
    RfmGroup(
        "hibernating",
        "Hibernating",
        "Few orders, long ago.",
        ((2, 2, 1, 2), (1, 1, 2, 2)),
    ),
    RfmGroup("lost", "Lost", "One order, the longest ago.", ((1, 1, 1, 1),)),
)
GROUPS_BY_SLUG = {group.slug: group for group in GROUPS}


def rfm_group_of(recency: int, frequency: int) -> RfmGroup:
    return next(group for group in GROUPS if group.holds(recency, frequency))


def _between(path: str, low: int, high: int) -> dict[str, Any]:
    node: dict[str, Any] = {"kind": "attribute", "negate": False, "scope": "computed"}
    node["path"] = path
    if low == high:
        return node | {"operator": "equals", "value": low}
    return node | {"operator": "between", "value": low, "value2": high}


def _group(match: str, conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "group", "match": match, "negate": False, "conditions": conditions}


def rfm_definition(boxes: tuple[Box, ...], *, monetary: int | None = None) -> dict[str, Any]:
    """A segment definition (docs/segments.md) for the profiles in these boxes of the grid,
    with this monetary score when given: on the computed RFM attributes."""
    parts = [
        [_between("rfm_recency", r1, r2), _between("rfm_frequency", f1, f2)]
        for r1, r2, f1, f2 in boxes
    ]
    extra = [] if monetary is None else [_between("rfm_monetary", monetary, monetary)]
    if len(parts) == 1:
        return _group("all", parts[0] + extra)
    boxes_any = _group("any", [_group("all", part) for part in parts])
    return _group("all", [boxes_any, *extra]) if extra else boxes_any


@dataclass(frozen=True)
class RfmCell:
    recency: int
    frequency: int
    monetary: int | None
    customers: int
    revenue: Decimal
    # Why nobody is here, when nobody is.
    why_empty: str = ""

    @property
    def group(self) -> RfmGroup:
        return rfm_group_of(self.recency, self.frequency)

    @property
    def query(self) -> dict[str, int]:
        """The profile list's filter for the people of this cell."""
        query = {"rfm_r": self.recency, "rfm_f": self.frequency}
        if self.monetary is not None:
            query["rfm_m"] = self.monetary
        return query


@dataclass(frozen=True)
class RfmGrid:
    monetary: int | None
    # Rows of recency 5 (ordered most recently) down to 1, each with frequency 1 to 5.
    rows: list[list[RfmCell]]
    # Every scored (recency, frequency, monetary) cell with customers, for the CSV.
    cells: list[RfmCell]
    customers: int
    by_monetary: dict[int, int]
    # The named groups with their customers and revenue (for this monetary score if any).
    groups: list[tuple[RfmGroup, int, Decimal]]
    # Why a whole recency row or frequency column is empty, by score.
    empty_recency: dict[int, str]
    empty_frequency: dict[int, str]

    @property
    def peak(self) -> int:
        return max((cell.customers for row in self.rows for cell in row), default=0)

    @property
    def empty_reasons(self) -> list[tuple[str, str]]:
        """Each reason once (a run of empty scores shares one), with the first score it is
        for ("R2", "F2")."""
        seen: dict[str, str] = {}
        for letter, reasons in (("R", self.empty_recency), ("F", self.empty_frequency)):
            for score, reason in reasons.items():
                seen.setdefault(reason, f"{letter}{score}")
        return [(key, reason) for reason, key in seen.items()]


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _empty_scores(
    spread: dict[int, tuple[int, str]], total: int, letter: str, measure: str
) -> dict[int, str]:
    """Why each score nobody has is empty. `spread` is score → (customers, the range of the
    measure they have, in words), for the scores somebody has."""
    reasons = {}
    for score in SCORES:
        if score in spread or not total:
            continue
        below = max((s for s in spread if s < score), default=None)
        above = min((s for s in spread if s > score), default=None)
        # The run of empty scores this one is in, named together: "F 2 or F 3".
        run = [
            s for s in SCORES if (below or 0) < s < (above or len(SCORES) + 1) and s not in spread
        ]
        nobody = " or ".join(f"{letter} {s}" for s in run)
        if total < len(SCORES):
            reasons[score] = (
                f"Nobody scores {nobody}: only {_plural(total, 'customer')} "
                "have scores, too few to fill five bands."
            )
        elif below is not None:
            count, span = spread[below]
            share = round(100 * count / total)
            then = f"the next {measure} up scores {letter} {above}" if above else "nobody is above"
            reasons[score] = (
                f"Nobody scores {nobody}: scores are fifths of the ranking and equal "
                f"values share one score. {letter} {below} ({span}) holds "
                f"{_plural(count, 'customer')}, {share}% of them, so {then}."
            )
        else:
            reasons[score] = f"Nobody scores {nobody}."
    return reasons


def _spreads(monetary: int | None) -> tuple[dict[int, tuple[int, str]], dict[int, tuple[int, str]]]:
    """Per recency score and per frequency score: customers, and the range of last order
    dates and of order counts they have (two grouped queries on the scored profiles)."""
    scored = Profile.objects.exclude(rfm_score="")
    if monetary is not None:
        scored = scored.filter(rfm_monetary=monetary)
    recency = {}
    for score, count, first, last in (
        scored.values_list("rfm_recency")
        .annotate(Count("id"), Min("last_order_at"), Max("last_order_at"))
        .order_by()
    ):
        days = (
            f"last order {first:%Y-%m-%d}"
            if first.date() == last.date()
            else (f"last orders {first:%Y-%m-%d} to {last:%Y-%m-%d}")
        )
        recency[score] = (count, days)
    frequency = {}
    for score, count, low, high in (
        scored.values_list("rfm_frequency")
        .annotate(Count("id"), Min("orders_count"), Max("orders_count"))
        .order_by()
    ):
        orders = _plural(low, "order") if low == high else f"{low:,}-{high:,} orders"
        frequency[score] = (count, orders)
    return recency, frequency


def rfm_grid(*, monetary: int | None = None) -> RfmGrid:
    """Customers per RFM cell (one query on the scored profiles)."""
    rows = (
        Profile.objects.exclude(rfm_score="")
        .values_list("rfm_recency", "rfm_frequency", "rfm_monetary")
        .annotate(customers=Count("id"), revenue=Sum("revenue"))
        .order_by("rfm_recency", "rfm_frequency", "rfm_monetary")
    )
    cells = [
        RfmCell(r, f, m, customers, revenue or Decimal("0")) for r, f, m, customers, revenue in rows
    ]
    grid: dict[tuple[int, int], tuple[int, Decimal]] = {}
    by_monetary = dict.fromkeys(SCORES, 0)
    for cell in cells:
        # A scored profile has all three scores: rfm_score is made of them.
        assert cell.monetary is not None
        by_monetary[cell.monetary] = by_monetary.get(cell.monetary, 0) + cell.customers
        if monetary is not None and cell.monetary != monetary:
            continue
        count, revenue = grid.get((cell.recency, cell.frequency), (0, Decimal("0")))
        grid[(cell.recency, cell.frequency)] = (count + cell.customers, revenue + cell.revenue)
    shown = sum(count for count, _ in grid.values())
    recency, frequency = _spreads(monetary) if shown else ({}, {})
    empty_recency = _empty_scores(recency, shown, "R", "last order")
    empty_frequency = _empty_scores(frequency, shown, "F", "number of orders")
    monetary_words = f" and monetary {monetary}" if monetary is not None else ""

    def why(r: int, f: int) -> str:
        if (r, f) in grid:
            return ""
        if r in empty_recency:
            return empty_recency[r]
        if f in empty_frequency:
            return empty_frequency[f]
        return (
            f"Nobody combines recency {r} and frequency {f}{monetary_words}: both scores have "
            "customers, just not together."
        )

    table = [
        [RfmCell(r, f, monetary, *grid.get((r, f), (0, Decimal("0"))), why(r, f)) for f in SCORES]
        for r in reversed(SCORES)
    ]
    groups = []
    for group in GROUPS:
        held = [value for (r, f), value in grid.items() if group.holds(r, f)]
        groups.append((group, sum(c for c, _ in held), sum((v for _, v in held), Decimal("0"))))
    return RfmGrid(
        monetary=monetary,
        rows=table,
        cells=cells,
        customers=sum(cell.customers for cell in cells),
        by_monetary=by_monetary,
        groups=groups,
        empty_recency=empty_recency,
        empty_frequency=empty_frequency,
    )
