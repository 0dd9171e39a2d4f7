"""The builder's edits: pure functions from a draft tree (the stored JSON shape, maybe half
filled) to the next one. The input is never changed."""

from __future__ import annotations

import copy
import re
from typing import Any

from segments.builder.catalog import BuilderCatalog, FieldInfo
from segments.builder.form import KIND_LABELS, WHOLE_NUMBER
from segments.definition import NO_VALUE, OPERATORS, new_condition

LIFECYCLE_WINDOWS = {"first_time": ("last", "between"), "stopped": ("last",)}


# --- structure changes -----------------------------------------------------------------------


class BuilderAction:
    """A structure change the builder's buttons ask for, by name and node address:
    `add:n.1:behaviour`, `remove:n.1.0`, `add_filter:n.1`, `remove_filter:n.1:0`."""

    ADD, REMOVE, ADD_FILTER, REMOVE_FILTER = "add", "remove", "add_filter", "remove_filter"


def _parts(address: str) -> tuple[int, ...] | None:
    if not re.fullmatch(r"n(\.[0-9]{1,3}){0,8}", address):
        return None
    return tuple(int(p) for p in address.split(".")[1:])


def _find(tree: dict[str, Any], parts: tuple[int, ...]) -> dict[str, Any] | None:
    node = tree
    for index in parts:
        children = node.get("conditions") if node.get("kind") == "group" else None
        if not isinstance(children, list) or index >= len(children):
            return None
        node = children[index]
    return node


def tree_apply(tree: dict[str, Any], action: str) -> dict[str, Any]:
    """The tree after a builder action, as a new tree. Actions naming a node that is not
    there (a stale page, a crafted form) change nothing."""
    tree = copy.deepcopy(tree)
    name, _, rest = action.partition(":")
    address, _, argument = rest.partition(":")
    parts = _parts(address)
    if parts is None:
        return tree
    node = _find(tree, parts)
    if node is None:
        return tree
    if name == BuilderAction.ADD and node.get("kind") == "group":
        kind = argument if argument in KIND_LABELS else "behaviour"
        child = new_condition(kind)
        if kind == "group":
            # A new group starts with one condition, so it is never empty.
            child["conditions"].append(new_condition("behaviour"))
        node["conditions"].append(child)
    elif name == BuilderAction.REMOVE and parts:
        parent = _find(tree, parts[:-1])
        if parent is not None:
            del parent["conditions"][parts[-1]]
    elif name == BuilderAction.ADD_FILTER and node.get("kind") in ("behaviour", "lifecycle"):
        node.setdefault("where", []).append({"path": "", "operator": "equals", "value": ""})
    elif (
        name == BuilderAction.REMOVE_FILTER
        and node.get("kind") in ("behaviour", "lifecycle")
        and WHOLE_NUMBER.fullmatch(argument)
        and int(argument) < len(node.get("where", []))
    ):
        del node["where"][int(argument)]
    return tree


def tree_normalise(tree: dict[str, Any], catalog: BuilderCatalog) -> dict[str, Any]:
    """A tree being edited, kept drawable: an operator that does not fit its field's new
    type becomes the type's first one (its value cleared), and a lifecycle window the
    change does not allow becomes the default one. Returns a new tree."""

    def comparison(node: dict[str, Any], info: FieldInfo | None) -> None:
        if info is None or info.type not in OPERATORS:
            return
        allowed = [op for op, _ in OPERATORS[info.type]]
        if node.get("operator") not in allowed:
            node["operator"] = allowed[0]
            node.pop("value2", None)
            if allowed[0] in NO_VALUE:
                node.pop("value", None)
            else:
                node["value"] = [] if allowed[0] == "one_of" else ""

    def visit(node: dict[str, Any]) -> None:
        match node:
            case {"kind": "group"}:
                for child in node.get("conditions", []):
                    visit(child)
            case {"kind": "attribute"}:
                info = catalog.attribute(str(node.get("scope")), str(node.get("path")))
                comparison(node, info)
            case {"kind": "behaviour" | "lifecycle" as kind}:
                properties = catalog.properties(node.get("activity"))
                for item in node.get("where", []):
                    comparison(item, properties.get(str(item.get("path", ""))))
                if kind == "lifecycle":
                    allowed = LIFECYCLE_WINDOWS.get(node.get("change", ""), ("last",))
                    if node.get("window", {}).get("type") not in allowed:
                        node["window"] = new_condition("lifecycle")["window"]

    tree = copy.deepcopy(tree)
    visit(tree)
    return tree
