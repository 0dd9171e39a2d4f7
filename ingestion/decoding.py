"""From request bytes to JSON values: decompression and parsing under the ingest limits.

Rules (also in docs/ingest.md):
- `Content-Encoding: gzip` (or `deflate`) bodies are decompressed in a stream that stops at
  the request limit, so a gzip bomb costs at most that much memory and is refused.
- The body is JSON whatever the content type says (browsers send `text/plain`).
- `NaN`, `Infinity`, `-Infinity` and numbers too large for a double are parsed into
  `NON_FINITE`, which the per-event cleaning turns into `null` and flags.
- Nesting deeper than Python's parser can follow does not fail the request: the too-deep
  containers are replaced by `TOO_DEEP_MARKER`, and the events holding one are refused.
"""

from __future__ import annotations

import json
import math
import zlib
from typing import Any

import orjson

from cdp_project.core.errors import ApplicationError


class _NonFinite:
    """Marks a number JSON can carry but Postgres `jsonb` cannot."""

    def __repr__(self) -> str:
        return "NON_FINITE"


NON_FINITE = _NonFinite()
# A string no cleaned value can contain (NUL is removed from every string), so it cannot be
# forged by a sender to hide a real value.
TOO_DEEP_MARKER = "\x00cdp:too-deep\x00"
# Containers past this depth are cut before parsing; far below Python's recursion limit.
_PARSE_DEPTH_CUT = 200


def decompress(body: bytes, content_encoding: str, *, limit: int) -> bytes:
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        data = body
    elif encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
        decompressor = zlib.decompressobj(wbits)
        try:
            data = decompressor.decompress(body, limit + 1)
        except zlib.error as exc:
            raise ApplicationError(
                "invalid_encoding", f"The body is not valid {encoding} data: {exc}."
            ) from exc
        if len(data) <= limit and not decompressor.eof and not decompressor.unconsumed_tail:
            raise ApplicationError("invalid_encoding", f"The {encoding} body is truncated.")
    else:
        raise ApplicationError(
            "unsupported_encoding",
            f"Content-Encoding {encoding!r} is not supported; send gzip or no encoding.",
        )
    if len(data) > limit:
        raise ApplicationError(
            "request_too_large",
            f"The request is larger than {limit // 1024} KB once decompressed.",
            details={"limit_bytes": limit},
        )
    return data


def _parse_float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else NON_FINITE


def _parse_int(text: str) -> int | float | _NonFinite:
    # Python refuses to parse integers of more than 4,300 digits; anything past a double's
    # range becomes non-finite instead of failing the whole request.
    if len(text) <= 300:
        return int(text)
    return _parse_float(text)


def _parse_constant(_name: str) -> _NonFinite:
    return NON_FINITE


def _cut_deep_containers(text: str, max_depth: int) -> str:
    """Replace every container nested deeper than `max_depth` by the marker string."""
    marker = json.dumps(TOO_DEEP_MARKER)
    out: list[str] = []
    depth = 0
    keep_from = 0
    cut_from: int | None = None
    in_string = False
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if in_string:
            if char == "\\":
                i += 2
                continue
            if char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth == max_depth + 1 and cut_from is None:
                cut_from = i
        elif char in "]}":
            if depth == max_depth + 1 and cut_from is not None:
                out.append(text[keep_from:cut_from])
                out.append(marker)
                keep_from = i + 1
                cut_from = None
            depth -= 1
        i += 1
    out.append(text[keep_from:])
    return "".join(out)


# Twenty digits in a row: maybe an integer past 64 bits, which orjson reads as a float.
# Found by mapping every digit to "0" and looking for twenty zeros: two passes in C,
# where a regular expression tries a match at every byte of the body.
_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_DIGITS = b"0" * 20


def _has_long_digit_run(data: bytes) -> bool:
    return _LONG_DIGITS in data.translate(_DIGITS_TO_ZERO)


def parse_json(data: bytes) -> Any:
    # orjson parses a well-formed body several times faster. It refuses what the rules
    # below turn into values or clear errors (non-finite numbers, a byte order mark, lone
    # surrogates, nesting past 1,024), and a body with an integer it would read as a float
    # is not given to it: those take the standard parser, with the same result as always.
    if not _has_long_digit_run(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApplicationError(
            "invalid_json", f"The body is not UTF-8 text (byte {exc.start})."
        ) from exc
    hooks: dict[str, Any] = {
        "parse_float": _parse_float,
        "parse_int": _parse_int,
        "parse_constant": _parse_constant,
    }
    try:
        try:
            return json.loads(text, **hooks)
        except RecursionError:
            return json.loads(_cut_deep_containers(text, _PARSE_DEPTH_CUT), **hooks)
    except json.JSONDecodeError as exc:
        raise ApplicationError(
            "invalid_json",
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.",
        ) from exc
