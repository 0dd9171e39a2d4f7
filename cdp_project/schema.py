"""drf-spectacular hooks."""

from __future__ import annotations

from typing import Any


def drop_ingest_aliases(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list:
    """Document each ingest endpoint once, in its canonical form (`/v1/track`), not its
    aliases (`/v1/track/`, the mobile SDKs' `/v1/b` and `/v1/import`)."""
    from ingestion.api_urls import ENDPOINTS

    canonical = {f"/v1/{name}" for name in ENDPOINTS}
    return [
        endpoint
        for endpoint in endpoints
        if not endpoint[0].startswith("/v1/") or endpoint[0] in canonical
    ]
