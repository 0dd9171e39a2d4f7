"""What an import did: records imported, unchanged and refused, by line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cdp_project.core.csvfile import CsvRefused

MAX_REFUSALS_KEPT = 10_000


# The file as a whole cannot be read; nothing was imported. One error for the CSV reader's
# refusals and the importers' own.
ImportRefused = CsvRefused


@dataclass
class LineRanges:
    """Line numbers, kept as ranges ("2-118, 120") so a big file costs little to report."""

    ranges: list[list[int]] = field(default_factory=list)

    def add(self, lines: Iterable[int]) -> None:
        for line in sorted(lines):
            if self.ranges and self.ranges[-1][0] <= line <= self.ranges[-1][1] + 1:
                self.ranges[-1][1] = max(self.ranges[-1][1], line)
            else:
                self.ranges.append([line, line])

    def __str__(self) -> str:
        return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in self.ranges)

    @property
    def label(self) -> str:
        """For a sentence: "line 7", or "lines 2-118, 120"."""
        single = len(self.ranges) == 1 and self.ranges[0][0] == self.ranges[0][1]
        return f"{'line' if single else 'lines'} {self}"


@dataclass
class RowRefusal:
    line: int
    reason: str


@dataclass
class ImportReport:
    """What an import did, by CSV line: the header is line 1."""

    kind: str  # "profiles" or "orders"
    rows: int = 0
    imported: int = 0
    imported_lines: LineRanges = field(default_factory=LineRanges)
    unchanged: int = 0
    unchanged_lines: LineRanges = field(default_factory=LineRanges)
    refused: list[RowRefusal] = field(default_factory=list)
    refused_count: int = 0
    events: int = 0
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def noun(self) -> str:
        return "profile" if self.kind == "profiles" else "order"

    def refuse(self, line: int, reason: str) -> None:
        self.refused_count += 1
        if len(self.refused) < MAX_REFUSALS_KEPT:
            self.refused.append(RowRefusal(line, reason))

    def summary(self) -> list[str]:
        """The report as lines of text (the import commands print it)."""

        def count(n: int) -> str:
            return f"{n:,} {self.noun}{'' if n == 1 else 's'}"

        lines = [f"Read {self.rows:,} row{'' if self.rows == 1 else 's'}."]
        lines.append(
            f"Imported: {count(self.imported)}"
            + (f" ({self.imported_lines.label})" if self.imported else "")
            + "."
        )
        lines.append(
            f"Unchanged, already imported: {count(self.unchanged)}"
            + (f" ({self.unchanged_lines.label})" if self.unchanged else "")
            + "."
        )
        lines.append(
            f"Refused: {self.refused_count:,} line{'' if self.refused_count == 1 else 's'}."
        )
        lines += [f"  line {r.line}: {r.reason}" for r in sorted(self.refused, key=_by_line)]
        if self.refused_count > len(self.refused):
            lines.append(f"  … and {self.refused_count - len(self.refused):,} more.")
        if self.ignored_columns:
            lines.append("Columns not imported: " + ", ".join(self.ignored_columns) + ".")
        return lines


def _by_line(refusal: RowRefusal) -> int:
    return refusal.line
