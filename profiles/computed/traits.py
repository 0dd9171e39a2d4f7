"""What a profile's traits say about the person besides consent (consent.py)."""

from __future__ import annotations

from typing import Any


def profile_name(traits: dict[str, Any]) -> str:
    name = traits.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()[:255]
    parts = []
    for keys in (("first_name", "firstName"), ("last_name", "lastName")):
        for key in keys:
            value = traits.get(key)
            if isinstance(value, str) and value.strip():
                parts.append(value.strip())
                break
    return " ".join(parts)[:255]
