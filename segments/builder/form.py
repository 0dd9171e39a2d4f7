"""The builder's form: the condition tree as the fields of one HTML form, and back.

Every node of the tree has an address (`n` for the top group, `n.0` for its first condition,
`n.0.2` for the third condition of that group) and its fields are named `<address>:<field>`:
`n.0:kind`, `n.0:activity`, `n.0:where.1:path`. Reading the form back is lenient, because a
half-filled tree (a draft, in the stored JSON shape) is normal while a marketer edits:
`definition_parse` judges it only when it is previewed or saved.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.http import QueryDict

from cdp_project.core.forms import without_nul
from ingestion.models import Activity
from segments.definition import NO_VALUE, empty_group, new_condition

ROOT = "n"
# Deeper or wider than definition_parse accepts is refused there, with a message; the form
# reader only keeps addresses short enough that a crafted form cannot make it do much work.
_FIELD = re.compile(r"^n((?:\.[0-9]{1,3}){0,8}):([a-z_0-9.:]{1,40})\Z")
_FILTER_FIELD = re.compile(r"^where\.([0-9]{1,3}):([a-z_0-9]{1,20})\Z")
# A whole number as typed: ASCII digits only. `str.isdigit` also accepts "²" and "①",
# which `int` refuses.
WHOLE_NUMBER = re.compile(r"[0-9]{1,15}")
MAX_FORM_NODES = 300

KIND_LABELS = {
    "behaviour": "Did an activity",
    "attribute": "Profile attribute",
    "lifecycle": "Started or stopped an activity",
    "segment": "Member of a segment",
    "consent": "Consent",
    "group": "Group of conditions",
}


# --- the form, read back into a tree ---------------------------------------------------------


def node_address(parts: Iterable[int]) -> str:
    return ".".join([ROOT, *(str(p) for p in parts)])


def _whole_number(value: str) -> int | str:
    """A count, an amount or an id as typed: a number when it is one, else the text, so
    that definition_clean can say what is wrong with it."""
    value = value.strip()
    return int(value) if WHOLE_NUMBER.fullmatch(value) else value


def whole_number_or_none(value: str) -> int | None:
    """An id sent by a form (a segment, a source): a number, or None for anything else."""
    value = value.strip()
    return int(value) if WHOLE_NUMBER.fullmatch(value) else None


def activity_key(selector: Mapping[str, Any] | None) -> str:
    """An activity selector as one picker value: `track:Order Completed`, `page:`,
    `role:order_completed`; empty for none."""
    if not selector:
        return ""
    if selector.get("role"):
        return f"role:{selector['role']}"
    if selector.get("kind"):
        return f"{selector['kind']}:{selector.get('name', '')}"
    return ""


def activity_selector(key: str) -> dict[str, str]:
    kind, _, name = key.partition(":")
    if kind == "role" and name:
        return {"role": name}
    if kind in Activity.Kind.values:
        return {"kind": kind, "name": name if kind == Activity.Kind.TRACK else ""}
    return {}


def _comparison(values: Mapping[str, list[str]], node: dict[str, Any]) -> dict[str, Any]:
    """Operator and value(s) of an attribute or a property filter, as typed."""
    operator = _first(values, "operator")
    node["operator"] = operator
    if operator in NO_VALUE:
        return node
    value = _first(values, "value").strip()
    if operator == "one_of":
        # The values already chosen (chips, one field each, so a value may hold a comma),
        # then whatever is typed in the box, comma-separated; each value once.
        chosen = [item.strip() for item in values.get("value_item", []) if item.strip()]
        typed = [part.strip() for part in value.split(",") if part.strip()]
        node["value"] = list(dict.fromkeys([*chosen, *typed]))
    else:
        node["value"] = value
    if operator == "between":
        node["value2"] = _first(values, "value2").strip()
    return node


def _first(values: Mapping[str, list[str]], name: str, default: str = "") -> str:
    found = values.get(name)
    return found[0] if found else default


def _events(values: Mapping[str, list[str]], node: dict[str, Any]) -> None:
    """What behaviour and lifecycle nodes share: activity, window, filters and sources."""
    if "activity" in values:
        node["activity"] = activity_selector(_first(values, "activity"))
    if "window_type" in values:
        kind = _first(values, "window_type")
        if kind == "last":
            node["window"] = {
                "type": "last",
                "amount": _whole_number(_first(values, "window_amount")),
                "unit": _first(values, "window_unit", "days"),
            }
        elif kind == "between":
            node["window"] = {
                "type": "between",
                "start": _first(values, "window_start").strip(),
                "end": _first(values, "window_end").strip(),
            }
        else:
            node["window"] = {"type": kind}
    filters: dict[int, dict[str, list[str]]] = {}
    for name, items in values.items():
        match = _FILTER_FIELD.match(name)
        if match:
            filters.setdefault(int(match.group(1)), {})[match.group(2)] = items
    node["where"] = [
        _comparison(filters[index], {"path": _first(filters[index], "path")})
        for index in sorted(filters)
    ]
    sources = (whole_number_or_none(s) for s in values.get("sources", []))
    node["sources"] = [s for s in sources if s is not None]


def _node(
    address: tuple[int, ...], fields: dict[tuple[int, ...], dict[str, list[str]]]
) -> dict[str, Any]:
    values = fields.get(address, {})
    kind = "group" if not address else _first(values, "kind")
    if kind not in KIND_LABELS:
        kind = "behaviour"
    node = new_condition(kind)
    node["negate"] = "negate" in values
    match kind:
        case "group":
            node["match"] = "any" if _first(values, "match") == "any" else "all"
            children = sorted(
                {
                    key[len(address)]
                    for key in fields
                    if len(key) > len(address) and key[: len(address)] == address
                }
            )
            node["conditions"] = [_node((*address, index), fields) for index in children]
        case "attribute":
            if "field" in values:
                scope, _, path = _first(values, "field").partition(":")
                node["scope"], node["path"] = scope, path
            if "operator" in values:
                node.pop("value", None)
                _comparison(values, node)
        case "behaviour" | "lifecycle":
            _events(values, node)
            if kind == "behaviour":
                count = node["count"]
                if "count_operator" in values:
                    count["operator"] = _first(values, "count_operator")
                if "count_value" in values:
                    count["value"] = _whole_number(_first(values, "count_value"))
            if kind == "lifecycle" and "change" in values:
                node["change"] = _first(values, "change")
        case "segment":
            if "segment" in values:
                # Picked from a list of ids: anything else is "no segment chosen yet".
                node["segment"] = whole_number_or_none(_first(values, "segment")) or None
        case "consent":
            node["channel"] = _first(values, "channel", node["channel"])
            node["state"] = _first(values, "state", node["state"])
    return node


def tree_from_form(data: QueryDict | Mapping[str, Any]) -> dict[str, Any]:
    """The condition tree a builder form describes. Lenient: whatever is missing takes the
    defaults of a new condition, and nothing is checked against the catalog."""
    fields: dict[tuple[int, ...], dict[str, list[str]]] = {}
    for name in data:
        match = _FIELD.match(name)
        if not match:
            continue
        address = tuple(int(part) for part in match.group(1).split(".")[1:])
        if address not in fields and len(fields) >= MAX_FORM_NODES:
            continue
        values = data.getlist(name) if hasattr(data, "getlist") else _as_list(data[name])
        # NUL cannot reach Postgres text (the catalog is looked up by these values), and
        # nobody means it: dropped as every form field drops it.
        fields.setdefault(address, {})[match.group(2)] = [without_nul(str(v)) for v in values]
    # Every ancestor of a node is a group, even if the form left it out.
    for address in list(fields):
        for depth in range(len(address)):
            fields.setdefault(address[:depth], {}).setdefault("kind", ["group"])
    if not fields:
        return empty_group()
    return _node((), fields)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def tree_form_data(tree: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The form fields a browser sends for a tree, as (name, value) pairs: the inverse of
    `tree_from_form` for every tree `definition_clean` accepts."""
    pairs: list[tuple[str, str]] = []

    def add(address: str, name: str, value: Any) -> None:
        pairs.append((f"{address}:{name}", form_value(value)))

    def comparison(address: str, prefix: str, node: Mapping[str, Any]) -> None:
        add(address, f"{prefix}operator", node.get("operator", ""))
        if node.get("operator") in NO_VALUE:
            return
        if node.get("operator") == "one_of":
            for item in _as_list(node.get("value", [])):
                add(address, f"{prefix}value_item", item)
            return
        add(address, f"{prefix}value", node.get("value", ""))
        if node.get("operator") == "between":
            add(address, f"{prefix}value2", node.get("value2", ""))

    def visit(node: Mapping[str, Any], parts: tuple[int, ...]) -> None:
        address = node_address(parts)
        kind = node.get("kind", "")
        add(address, "kind", kind)
        if node.get("negate"):
            add(address, "negate", "1")
        match kind:
            case "group":
                add(address, "match", node.get("match", "all"))
                for index, child in enumerate(node.get("conditions", [])):
                    visit(child, (*parts, index))
            case "attribute":
                add(address, "field", f"{node.get('scope', '')}:{node.get('path', '')}")
                comparison(address, "", node)
            case "behaviour" | "lifecycle":
                if kind == "lifecycle":
                    add(address, "change", node.get("change", ""))
                add(address, "activity", activity_key(node.get("activity")))
                if kind == "behaviour":
                    count = node.get("count", {})
                    add(address, "count_operator", count.get("operator", ""))
                    add(address, "count_value", count.get("value", ""))
                window = node.get("window", {})
                add(address, "window_type", window.get("type", ""))
                if window.get("type") == "last":
                    add(address, "window_amount", window.get("amount", ""))
                    add(address, "window_unit", window.get("unit", ""))
                elif window.get("type") == "between":
                    add(address, "window_start", window.get("start", ""))
                    add(address, "window_end", window.get("end", ""))
                for index, item in enumerate(node.get("where", [])):
                    add(address, f"where.{index}:path", item.get("path", ""))
                    comparison(address, f"where.{index}:", item)
                for source in node.get("sources", []):
                    add(address, "sources", source)
            case "segment":
                add(address, "segment", node.get("segment") or "")
            case "consent":
                add(address, "channel", node.get("channel", ""))
                add(address, "state", node.get("state", ""))

    visit(tree, ())
    return pairs


def form_value(value: Any) -> str:
    """A value as the builder's input shows it: lists comma-separated, numbers plainly."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(form_value(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
