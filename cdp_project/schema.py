"""drf-spectacular hooks."""

from __future__ import annotations

from typing import Any


def drop_trailing_slash_aliases(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list:
    """`/v1/track/` is accepted as well as `/v1/track`; document the canonical form only."""
    return [
        endpoint
        for endpoint in endpoints
        if not (endpoint[0].startswith("/v1/") and endpoint[0].endswith("/"))
    ]
