"""Reading an uploaded CSV file: its text, separator, header and rows, each with its line."""

from __future__ import annotations

import io

import pytest

from cdp_project.core.csvfile import CsvRefused, csv_header, csv_rows


def read(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    file = io.BytesIO(data)
    headers, delimiter = csv_header(file)
    return headers, list(csv_rows(file, delimiter=delimiter))


def test_rows_carry_the_line_they_start_on_and_blank_rows_are_skipped():
    headers, rows = read(b'sku,name\nA,Hat\n\n , \nB,"Two\nlines"\nC,Scarf\n')
    assert headers == ["sku", "name"]
    assert rows == [(2, ["A", "Hat"]), (5, ["B", "Two\nlines"]), (7, ["C", "Scarf"])]


@pytest.mark.parametrize(
    ("data", "delimiter"),
    [(b"a;b\n1;2\n", ";"), (b"a\tb\n1\t2\n", "\t"), (b"a,b\n1,2\n", ","), (b"a\n1\n", ",")],
)
def test_the_separator_is_the_one_the_header_holds_most_of(data, delimiter):
    assert csv_header(io.BytesIO(data))[1] == delimiter
    assert read(data)[1][0][1] == data.decode().split("\n")[1].split(delimiter)


def test_a_byte_order_mark_and_old_mac_line_ends_are_read():
    headers, rows = read("\ufeffemail;name\rann@example.com;Ann\r".encode())
    assert headers == ["email", "name"]
    assert rows == [(2, ["ann@example.com", "Ann"])]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "The file is empty."),
        ("sku,name\nA,caf\xe9\n".encode("latin-1"), r"not UTF-8 text \(line 2\)"),
        (b"sku,name\nA,B\x00\n", "Line 2 holds NUL characters"),
        (b"sku\nA\n" + b"x" * 200_000 + b"\n", r"not valid CSV \(line 3\): field larger"),
    ],
)
def test_an_unreadable_file_is_refused_with_its_reason(data, reason):
    with pytest.raises(CsvRefused, match=reason):
        read(data)
