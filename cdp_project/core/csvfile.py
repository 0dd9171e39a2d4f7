"""Reading an uploaded CSV file: UTF-8 with or without a byte-order mark, `,`, `;` or tab
separated, lines ended however a spreadsheet ends them, refused whole with a reason a
marketer can act on when it cannot be read.

The importers (profiles' customers and orders, the catalog's products) decide what the
columns mean and what a row must hold; this reads the header and the rows, with the line
each row starts on, so every error names its line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import BinaryIO


class CsvRefused(Exception):
    """The file as a whole cannot be read or imported; nothing was imported."""


_BARE_CR = re.compile(r"(?<=\r)(?!\n)")


def _lines(data: BinaryIO) -> Iterator[str]:
    """The file's text lines. Decoded line by line (a newline byte never occurs inside a
    UTF-8 character), so an error names its line."""
    data.seek(0)
    for number, raw in enumerate(data, start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise CsvRefused(
                f"The file is not UTF-8 text (line {number}); export it as CSV UTF-8."
            ) from None
        if "\x00" in line:
            raise CsvRefused(
                f"Line {number} holds NUL characters: the file is not a CSV text file."
            )
        if "\r" in line.rstrip("\r\n"):
            # Lines ended by a bare carriage return (old spreadsheet exports).
            yield from _BARE_CR.split(line)
        else:
            yield line


def _delimiter(first_line: str) -> str:
    """`,`, `;` or tab: whichever the header row holds most of (a header rarely quotes one)."""
    counts = {sep: first_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def csv_header(data: BinaryIO) -> tuple[list[str], str]:
    """The header row's cells, as written, and the file's separator. Refuses an empty file
    and a header that is not CSV."""
    first = next(_lines(data), None)
    if first is None:
        raise CsvRefused("The file is empty.")
    delimiter = _delimiter(first)
    try:
        headers = next(csv.reader([first], delimiter=delimiter), [])
    except csv.Error as exc:
        raise CsvRefused(f"The header row is not valid CSV: {exc}.") from None
    return headers, delimiter


def csv_rows(data: BinaryIO, *, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(the line a row starts on, its cells) for each row below the header that is not
    blank. Raises CsvRefused, naming the line, where the file stops being CSV."""
    reader = csv.reader(_lines(data), delimiter=delimiter)
    try:
        next(reader, None)
        line = reader.line_num + 1
        for row in reader:
            start, line = line, reader.line_num + 1
            if any(cell.strip() for cell in row):
                yield start, row
    except csv.Error as exc:
        raise CsvRefused(f"The file is not valid CSV (line {reader.line_num}): {exc}.") from None
