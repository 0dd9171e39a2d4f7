"""Reading an import's CSV file (cdp_project/core/csvfile.py reads the text): its columns
named by their aliases, checked whole before any row is imported."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cdp_project.core.csvfile import csv_header, csv_rows
from profiles.imports.report import ImportRefused


def normalise(header: str) -> str:
    """`E-mail` → `e_mail`, `First name` → `first_name`, `userId` → `user_id`."""
    name = header.strip().lstrip("\ufeff")
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return re.sub(r"\W+", "_", name).strip("_").lower()


def _size(data: BinaryIO) -> int:
    data.seek(0, io.SEEK_END)
    size = data.tell()
    data.seek(0)
    return size


@dataclass
class CsvFile:
    columns: list[str]  # normalised, aliases applied; "" for a column without a name
    headers: list[str]
    delimiter: str

    def rows(self, data: BinaryIO) -> Iterator[tuple[int, dict[str, str] | str]]:
        """(line, values by column) for each non-blank row, or (line, why it cannot be read)."""
        for line, row in csv_rows(data, delimiter=self.delimiter):
            if len(row) > len(self.columns):
                yield (
                    line,
                    f"The row has {len(row)} values but the header has {len(self.columns)}"
                    " columns; a value holding the separator needs quotes.",
                )
                continue
            yield (
                line,
                {name: cell.strip() for name, cell in zip(self.columns, row, strict=False) if name},
            )


def check_size(size: int, max_bytes: int | None) -> None:
    """Refuse a file over the limit (None: no limit); the upload page calls it first."""
    if max_bytes is not None and size > max_bytes:
        raise ImportRefused(
            f"The file is {_bytes_text(size)}; the limit is {_bytes_text(max_bytes)}. Split "
            "it, or import it with the import_profiles or import_orders command."
        )


def _bytes_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB".replace(".0 MB", " MB")
    if size >= 1024:
        return f"{size // 1024} KB"
    return f"{size} bytes"


def open_csv(data: BinaryIO, *, aliases: dict[str, str], max_bytes: int | None) -> CsvFile:
    """Check that the file can be read as a whole before anything is imported: its size,
    its encoding, its CSV structure, its header."""
    size = _size(data)
    check_size(size, max_bytes)
    if size == 0:
        raise ImportRefused("The file is empty.")
    headers, delimiter = csv_header(data)
    columns = []
    for header in headers:
        name = normalise(header)
        columns.append(aliases.get(name, aliases.get(name.replace("_", ""), name)))
    if not any(columns):
        raise ImportRefused("The file has no header row naming its columns.")
    seen: dict[str, str] = {}
    for header, name in zip(headers, columns, strict=True):
        if name and name in seen:
            raise ImportRefused(
                f"The columns “{seen[name]}” and “{header.strip()}” both mean {name}; keep one."
            )
        seen[name] = header.strip()
    parsed = CsvFile(columns=columns, headers=[h.strip() for h in headers], delimiter=delimiter)
    # Read it all once: a file that breaks half-way (its encoding, its quoting) is refused
    # before a row is imported.
    rows = sum(1 for _ in parsed.rows(data))
    if rows == 0:
        raise ImportRefused("The file has no rows below its header.")
    return parsed


def aliases(synonyms: dict[str, str]) -> dict[str, str]:
    """{column: "its synonyms, space-separated"} as {synonym: column}."""
    return {alias: column for column, names in synonyms.items() for alias in names.split()}
