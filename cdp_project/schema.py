"""drf-spectacular hooks."""

from __future__ import annotations

from typing import Any

from ingestion.api_urls import ENDPOINTS


def drop_ingest_aliases(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list:
    """Document each ingest endpoint once, in its canonical form (`/v1/track`), not its
    aliases (`/v1/track/`, the mobile SDKs' `/v1/b` and `/v1/import`)."""
    canonical = {f"/v1/{name}" for name in ENDPOINTS}
    return [
        endpoint
        for endpoint in endpoints
        if not endpoint[0].startswith("/v1/") or endpoint[0] in canonical
    ]


def require_ingest_bodies(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Every ingest call needs its JSON body (the views read it raw, so the generator cannot
    tell)."""
    for path, operations in result.get("paths", {}).items():
        if path.startswith("/v1/"):
            for operation in operations.values():
                if "requestBody" in operation:
                    operation["requestBody"]["required"] = True
    return result
