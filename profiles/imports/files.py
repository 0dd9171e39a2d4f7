"""Reading a CSV file: its encoding, separator and header, checked whole before any row
is imported."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

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


def _lines(data: BinaryIO) -> Iterator[str]:
    """The file's text lines, UTF-8 with or without a byte-order mark. Decoded line by line
    (a newline byte never occurs inside a UTF-8 character), so an error names its line."""
    data.seek(0)
    for number, raw in enumerate(data, start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise ImportRefused(
                f"The file is not UTF-8 text (line {number}); export it as CSV UTF-8."
            ) from None
        if "\x00" in line:
            raise ImportRefused(
                f"Line {number} holds NUL characters: the file is not a CSV text file."
            )
        if "\r" in line.rstrip("\r\n"):
            # Lines ended by a bare carriage return (old spreadsheet exports).
            yield from _BARE_CR.split(line)
        else:
            yield line


_BARE_CR = re.compile(r"(?<=\r)(?!\n)")


def _delimiter(first_line: str) -> str:
    """`,`, `;` or tab: whichever the header row holds most of (a header rarely quotes one)."""
    counts = {sep: first_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


@dataclass
class CsvFile:
    columns: list[str]  # normalised, aliases applied; "" for a column without a name
    headers: list[str]
    delimiter: str

    def rows(self, data: BinaryIO) -> Iterator[tuple[int, dict[str, str] | str]]:
        """(line, values by column) for each non-blank row, or (line, why it cannot be read)."""
        reader = csv.reader(_lines(data), delimiter=self.delimiter)
        try:
            next(reader)
            line = reader.line_num + 1
            for row in reader:
                start, line = line, reader.line_num + 1
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) > len(self.columns):
                    yield (
                        start,
                        f"The row has {len(row)} values but the header has {len(self.columns)}"
                        " columns; a value holding the separator needs quotes.",
                    )
                    continue
                yield (
                    start,
                    {
                        name: cell.strip()
                        for name, cell in zip(self.columns, row, strict=False)
                        if name
                    },
                )
        except csv.Error as exc:
            raise ImportRefused(
                f"The file is not valid CSV (line {reader.line_num}): {exc}."
            ) from None


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
    first = next(_lines(data), "")
    delimiter = _delimiter(first)
    try:
        headers = next(csv.reader([first], delimiter=delimiter), [])
    except csv.Error as exc:
        raise ImportRefused(f"The header row is not valid CSV: {exc}.") from None
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
