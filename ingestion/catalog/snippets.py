"""Ready-to-paste code that sends an activity with its known properties: what a marketer
hands a developer.

Every value is a typed placeholder (`"<order_id>"`, `0.0`, `false`), never a value seen in
an event: the catalog's examples come from different events (one order's subtotal beside
another's total, a real customer's order id), so pasting them would send a fake order. The
examples sit beside the placeholders as comments, escaped so that none can end the comment,
and personal fields show none."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ingestion.catalog.paths import infer_type, path_parse
from ingestion.models import Activity, DiscoveredField

USER_ID = "<user_id>"
PAGE_NAME = "<page_name>"
DATETIME = "<ISO 8601 time>"
_EXAMPLE_LENGTH = 60


@dataclass(frozen=True)
class Placeholder:
    """One property's value in a snippet, and the example shown beside it (or none)."""

    value: Any
    example: str | None = None


# A payload's shape: dicts and one-item lists of Placeholder leaves.
Node = Placeholder | dict[str, Any] | list[Any]


def example_text(value: Any) -> str:
    """An example as one printable line: JSON-escaped, shortened, and with every character
    that an editor or a language could read as a line break (U+2028, NEL, …) escaped."""
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > _EXAMPLE_LENGTH:
        text = text[: _EXAMPLE_LENGTH - 1] + "…"
    return _printable(text)


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def _placeholder(field: DiscoveredField, name: str) -> Placeholder:
    kind = field.type
    examples = [] if field.personal else _examples(field, kind)
    example = f"e.g. {example_text(examples[0])}" if examples else None
    match kind:
        case "number":
            whole = bool(examples) and all(isinstance(e, int) for e in examples)
            return Placeholder(0 if whole else 0.0, example)
        case "boolean":
            return Placeholder(False, example)
        case "datetime":
            return Placeholder(DATETIME, example)
        case "object":
            return Placeholder({})
        case "array":
            return Placeholder([])
        case _:
            return Placeholder(f"<{name}>", example)


def _examples(field: DiscoveredField, kind: str) -> list[Any]:
    # Only values of the field's type, and never a masked one.
    return [
        example
        for example in field.examples
        if infer_type(example) == kind and "•" not in str(example)
    ]


def placeholder_payload(fields: Sequence[DiscoveredField]) -> dict[str, Any]:
    """A payload shaped like the fields' paths (nested objects, one item per array) whose
    leaves are placeholders."""
    payload: dict[str, Any] = {}
    for field in sorted(fields, key=lambda f: f.path):
        try:
            steps = path_parse(field.path)
        except ValueError:
            continue
        names = [step for step in steps if step is not None]
        leaf = _placeholder(field, names[-1] if names else "value")
        node: Any = payload
        for position, step in enumerate(steps):
            last = position == len(steps) - 1
            if step is None:  # an array's items
                if not isinstance(node, list):
                    break
                if last:
                    if not node:
                        node.append(_container(leaf))
                    break
                if not node or not isinstance(node[0], dict | list):
                    node[:] = [[] if steps[position + 1] is None else {}]
                node = node[0]
                continue
            if not isinstance(node, dict):
                break
            if last:
                node.setdefault(step, _container(leaf))
                break
            child = node.get(step)
            wanted = list if steps[position + 1] is None else dict
            if not isinstance(child, wanted):
                child = node[step] = wanted()
            node = child
    return payload


def _container(leaf: Placeholder) -> Node:
    # An object or array is filled by the fields under it: a fresh container, not a leaf.
    if isinstance(leaf.value, dict | list):
        return type(leaf.value)()
    return leaf


def plain(node: Any) -> Any:
    """The payload's values without their examples: what a JSON body sends."""
    if isinstance(node, Placeholder):
        return node.value
    if isinstance(node, dict):
        return {key: plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [plain(item) for item in node]
    return node


def examples_by_path(node: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(path, example) for every leaf that shows one, in the payload's order."""
    if isinstance(node, Placeholder):
        return [(prefix, node.example)] if node.example else []
    if isinstance(node, dict):
        found: list[tuple[str, str]] = []
        for key, value in node.items():
            found += examples_by_path(value, f"{prefix}.{key}" if prefix else key)
        return found
    if isinstance(node, list):
        return [pair for item in node for pair in examples_by_path(item, f"{prefix}[]")]
    return []


@dataclass(frozen=True)
class _Syntax:
    key: Callable[[str], str]
    literal: Callable[[Any], str]
    comment: str


_JS = _Syntax(key=json.dumps, literal=json.dumps, comment="//")
_PYTHON = _Syntax(key=repr, literal=repr, comment="#")


def render(node: Any, syntax: _Syntax, indent: int = 0) -> str:
    """A payload as source code, one property a line, its example as a trailing comment.
    Every item ends with a comma, which JavaScript and Python both accept."""
    pad = " " * (indent + 2)
    if isinstance(node, Placeholder):
        return syntax.literal(node.value)
    if isinstance(node, dict):
        if not node:
            return "{}"
        lines = [
            _line(f"{pad}{syntax.key(key)}: {render(value, syntax, indent + 2)},", value, syntax)
            for key, value in node.items()
        ]
        return "{\n" + "\n".join(lines) + "\n" + " " * indent + "}"
    if isinstance(node, list):
        if not node:
            return "[]"
        lines = [_line(f"{pad}{render(item, syntax, indent + 2)},", item, syntax) for item in node]
        return "[\n" + "\n".join(lines) + "\n" + " " * indent + "]"
    return syntax.literal(node)


def _line(code: str, node: Any, syntax: _Syntax) -> str:
    if isinstance(node, Placeholder) and node.example:
        return f"{code}  {syntax.comment} {node.example}"
    return code


def activity_snippets(
    *, activity: Activity, fields: Sequence[DiscoveredField], base_url: str, write_key: str
) -> dict[str, str]:
    properties = placeholder_payload(fields)
    web_properties = render(properties, _JS)
    python_properties = render(properties, _PYTHON, indent=4)
    kind = activity.kind
    if kind == "track":
        web = f"analytics.track({json.dumps(activity.name)}, {web_properties});"
        python_call = (
            f"analytics.track(\n    user_id,\n    {activity.name!r},\n    {python_properties},\n)"
        )
        message = {"userId": USER_ID, "event": activity.name, "properties": plain(properties)}
    else:
        web = f"analytics.{kind}({json.dumps(PAGE_NAME)}, {web_properties});"
        python_call = (
            f"analytics.{kind}(\n    user_id,\n    name={PAGE_NAME!r},\n"
            f"    properties={python_properties},\n)"
        )
        message = {"userId": USER_ID, "name": PAGE_NAME, "properties": plain(properties)}
    python = (
        "import segment.analytics as analytics\n\n"
        f"analytics.write_key = {write_key!r}\n"
        f"analytics.host = {base_url!r}\n\n"
        f"user_id = {USER_ID!r}\n" + python_call + "\nanalytics.flush()"
    )
    body = json.dumps(message, indent=2, ensure_ascii=False)
    # A JSON body holds no comments: the examples go above the command.
    seen = [f"# {_printable(path)}: {example}\n" for path, example in examples_by_path(properties)]
    if seen:
        seen.insert(
            0, "# Replace the placeholders (<…>, 0, false) with real values.\n# Seen in events:\n"
        )
    curl = "".join(seen) + (
        f"curl {base_url}/v1/{kind} \\\n  -u {shlex.quote(write_key + ':')} \\\n"
        f"  -H 'Content-Type: application/json' \\\n  -d {shlex.quote(body)}"
    )
    return {"web": web, "python": python, "curl": curl}
