"""Ready-to-paste code that sends an activity with its known properties: what a marketer
hands a developer."""

from __future__ import annotations

import copy
import json
import pprint
import shlex
from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from ingestion.catalog.paths import infer_type, path_parse
from ingestion.models import Activity, DiscoveredField

_PLACEHOLDERS: dict[str, Any] = {
    "string": "text",
    "number": 0,
    "boolean": True,
    "object": {},
    "array": [],
}


def _sample_value(field: DiscoveredField) -> Any:
    kind = field.type
    if not field.personal:
        for example in field.examples:
            # Only a value of the field's type, and never a masked one.
            if infer_type(example) == kind and "•" not in str(example):
                return example
    if kind == "datetime":
        return timezone.now().replace(microsecond=0).isoformat()
    if field.personal and kind == "string":
        return "…"
    # A fresh copy: the payload is built by nesting into these values.
    return copy.deepcopy(_PLACEHOLDERS.get(kind, "text"))


def example_payload(fields: Sequence[DiscoveredField]) -> dict[str, Any]:
    """A payload shaped like the fields: nested objects and one item per array."""
    payload: dict[str, Any] = {}
    for field in sorted(fields, key=lambda f: f.path):
        try:
            steps = path_parse(field.path)
        except ValueError:
            continue
        value = _sample_value(field)
        node: Any = payload
        for position, step in enumerate(steps):
            last = position == len(steps) - 1
            if step is None:  # an array's items
                if not isinstance(node, list):
                    break
                if last:
                    if not node:
                        node.append(value)
                    break
                if not node or not isinstance(node[0], dict | list):
                    node[:] = [[] if steps[position + 1] is None else {}]
                node = node[0]
                continue
            if not isinstance(node, dict):
                break
            if last:
                node.setdefault(step, value)
                break
            child = node.get(step)
            wanted = list if steps[position + 1] is None else dict
            if not isinstance(child, wanted):
                child = node[step] = wanted()
            node = child
    return payload


def activity_snippets(
    *, activity: Activity, fields: Sequence[DiscoveredField], base_url: str, write_key: str
) -> dict[str, str]:
    properties = example_payload(fields)
    pretty = json.dumps(properties, indent=2, ensure_ascii=False)
    kind = activity.kind
    if kind == "track":
        web = f"analytics.track({json.dumps(activity.name)}, {pretty});"
        python_call = (
            f"analytics.track(\n    user_id,\n    {activity.name!r},\n"
            f"    {_python_literal(properties)},\n)"
        )
        message = {"userId": "user-123", "event": activity.name, "properties": properties}
    else:
        web = f'analytics.{kind}("Page name", {pretty});'
        python_call = (
            f"analytics.{kind}(\n    user_id,\n    name='Page name',\n"
            f"    properties={_python_literal(properties)},\n)"
        )
        message = {"userId": "user-123", "name": "Page name", "properties": properties}
    python = (
        "import segment.analytics as analytics\n\n"
        f"analytics.write_key = {write_key!r}\n"
        f"analytics.host = {base_url!r}\n\n"
        "user_id = 'user-123'\n" + python_call + "\nanalytics.flush()"
    )
    body = json.dumps(message, indent=2, ensure_ascii=False)
    curl = (
        f"curl {base_url}/v1/{kind} \\\n  -u {shlex.quote(write_key + ':')} \\\n"
        f"  -H 'Content-Type: application/json' \\\n  -d {shlex.quote(body)}"
    )
    return {"web": web, "python": python, "curl": curl}


def _python_literal(value: Any, indent: int = 4) -> str:
    """A value as Python source, indented to sit inside a call."""
    text = pprint.pformat(value, indent=1, width=88 - indent, sort_dicts=False)
    return text.replace("\n", "\n" + " " * indent)
