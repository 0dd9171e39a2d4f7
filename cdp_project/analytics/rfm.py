"""How customers spread over the RFM cells: recency by frequency, for one monetary score or
all of them. Scores are the profiles' own (docs/profiles.md: recomputed hourly by beat)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Sum

from profiles.models import Profile

SCORES = [1, 2, 3, 4, 5]


@dataclass(frozen=True)
class RfmCell:
    recency: int
    frequency: int
    monetary: int | None
    customers: int
    revenue: Decimal

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

    @property
    def peak(self) -> int:
        return max((cell.customers for row in self.rows for cell in row), default=0)


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
    table = [
        [RfmCell(r, f, monetary, *grid.get((r, f), (0, Decimal("0")))) for f in SCORES]
        for r in reversed(SCORES)
    ]
    return RfmGrid(
        monetary=monetary,
        rows=table,
        cells=cells,
        customers=sum(cell.customers for cell in cells),
        by_monetary=by_monetary,
    )
