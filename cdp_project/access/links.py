"""Links made from event values: only web addresses become links.

Product and page URLs arrive in events, so anyone with a write key chooses them. Escaping
keeps them from breaking out of an attribute, but `javascript:` or `data:` in an `href` or
`src` is a script a marketer (or an email's reader) runs with one click. Only absolute
http(s) URLs and site-relative paths are kept; anything else is dropped, and the value is
shown as text instead.
"""

from __future__ import annotations

from urllib.parse import urlsplit

WEB_SCHEMES = frozenset({"http", "https"})


def web_url(value: object) -> str:
    """`value` if it is an http(s) URL or a site-relative path, else ""."""
    if not isinstance(value, str):
        return ""
    # Browsers drop tabs and newlines inside URLs and ignore leading spaces and controls.
    text = "".join(ch for ch in value if ch not in "\t\r\n").strip("\x00 \x0b\x0c")
    if not text:
        return ""
    if text.startswith("/") and not text.startswith(("//", "/\\")):
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    if parts.scheme.lower() in WEB_SCHEMES and parts.netloc:
        return text
    return ""
