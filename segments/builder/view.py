"""The builder's view of a tree: for each node its pickers (activities, properties, traits,
computed attributes) filled from the catalog, the operators that fit the chosen field's type,
and the value input that fits the operator, ready for the template to draw."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from segments.builder.catalog import COMPARABLE, BuilderCatalog, Choice, FieldInfo, drift_note
from segments.builder.edits import LIFECYCLE_WINDOWS, tree_normalise
from segments.builder.form import KIND_LABELS, ROOT, activity_key, form_value, node_address
from segments.definition import (
    CONSENT_STATES,
    COUNT_OPERATORS,
    LIFECYCLE_CHANGES,
    NO_VALUE,
    OPERATORS,
    WINDOW_UNITS,
)

WINDOW_TYPES = {"last": "in the last", "between": "between two dates", "ever": "ever"}
CONSENT_STATE_LABELS = {"granted": "opted in", "withdrawn": "opted out", "unknown": "not given"}
CONSENT_CHANNEL_LABELS = {"email": "Email", "sms": "SMS"}


# --- the tree, as the template draws it ------------------------------------------------------


def value_input(kind: str, operator: str) -> str:
    """Which input a comparison's value takes: none, text, list, number, between, date or
    days."""
    if operator in NO_VALUE or not operator:
        return "none"
    if operator == "one_of":
        return "list"
    if operator in ("in_last_days", "more_than_days_ago"):
        return "days"
    if kind == "number":
        return "between" if operator == "between" else "number"
    if kind == "datetime":
        return "date"
    return "text"


@dataclass
class ComparisonView:
    """An attribute's or a property filter's field, operator and value, ready to draw."""

    address: str
    prefix: str
    path: str
    known: bool
    type: str
    operator: str
    operators: list[tuple[str, str]]
    input: str
    value: str
    value2: str
    examples: list[str]
    drift: str = ""
    # "is one of": the values chosen, each a chip of its own.
    values: list[str] = field(default_factory=list)

    @property
    def suggestions(self) -> list[str]:
        """The examples not chosen yet: what the value box still offers."""
        return [example for example in self.examples if example not in self.values]

    @property
    def name(self) -> str:
        return f"{self.address}:{self.prefix}"

    @property
    def dom_id(self) -> str:
        return (self.address + "-" + self.prefix).replace(".", "-").replace(":", "").rstrip("-")

    @property
    def value_is_date(self) -> bool:
        return bool(re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", self.value)) or not self.value


def _comparison_view(
    address: str,
    prefix: str,
    node: dict[str, Any],
    path: str,
    info: FieldInfo | None,
    *,
    unit: str,
    suggest: Callable[[FieldInfo], list[str]] | None = None,
) -> ComparisonView:
    """A comparison ready to draw. Only the field it has chosen, when typed as text, gets
    value suggestions (`suggest`), so a redraw reads values for those fields alone."""
    kind = info.type if info else ""
    operators = OPERATORS.get(kind, [])
    operator = str(node.get("operator", ""))
    input_kind = value_input(kind, operator) if operators else "text"
    examples = info.examples if info else []
    if info is not None and suggest is not None and input_kind in ("text", "list"):
        examples = suggest(info) or examples
    return ComparisonView(
        address=address,
        prefix=prefix,
        path=path,
        known=info is not None,
        type=kind,
        operator=operator,
        operators=operators,
        input=input_kind,
        value="" if input_kind == "list" else form_value(node.get("value", "")),
        value2=form_value(node.get("value2", "")),
        examples=examples,
        drift=drift_note(info, unit=unit),
        values=_chosen(node.get("value")) if input_kind == "list" else [],
    )


def _chosen(value: Any) -> list[str]:
    """The values of "is one of", as chips: a list, or text typed before the operator was
    chosen (comma-separated)."""
    if isinstance(value, list | tuple):
        return [form_value(item) for item in value if form_value(item).strip()]
    return [part.strip() for part in form_value(value).split(",") if part.strip()]


@dataclass
class NodeView:
    """One node of the tree with what its pickers offer."""

    address: str
    number: str
    node: dict[str, Any]
    depth: int
    children: list[NodeView] = field(default_factory=list)
    comparison: ComparisonView | None = None
    field_key: str = ""
    field_missing: str = ""
    activity: str = ""
    activity_missing: str = ""
    paths: list[Choice] = field(default_factory=list)
    filters: list[ComparisonView] = field(default_factory=list)
    window_types: list[tuple[str, str]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    segment: str = ""
    segment_missing: str = ""

    @property
    def kind(self) -> str:
        return str(self.node.get("kind", ""))

    @property
    def is_root(self) -> bool:
        return self.address == ROOT

    @property
    def dom_id(self) -> str:
        return "node-" + self.address.replace(".", "-")

    @property
    def window(self) -> dict[str, Any]:
        window = self.node.get("window")
        return window if isinstance(window, dict) else {}

    @property
    def count(self) -> dict[str, Any]:
        count = self.node.get("count")
        return count if isinstance(count, dict) else {}


def _node_view(node: dict[str, Any], parts: tuple[int, ...], catalog: BuilderCatalog) -> NodeView:
    address = node_address(parts)
    view = NodeView(
        address=address,
        number=".".join(str(p + 1) for p in parts),
        node=node,
        depth=len(parts),
    )
    match node:
        case {"kind": "group"}:
            view.children = [
                _node_view(child, (*parts, index), catalog)
                for index, child in enumerate(node.get("conditions", []))
            ]
        case {"kind": "attribute"}:
            _attribute_view(view, node, catalog)
        case {"kind": "behaviour" | "lifecycle"}:
            _events_view(view, node, catalog)
        case {"kind": "segment"}:
            view.segment = form_value(node.get("segment"))
            if view.segment and view.segment not in {c.value for c in catalog.segments}:
                view.segment_missing = view.segment
    return view


def _attribute_view(view: NodeView, node: dict[str, Any], catalog: BuilderCatalog) -> None:
    address = view.address
    scope, path = str(node.get("scope", "")), str(node.get("path", ""))
    info = catalog.attribute(scope, path)
    view.field_key = f"{scope}:{path}" if path else ""
    if info is None and path:
        view.field_missing = path
    suggest = (lambda found: catalog.suggestions(found, path)) if scope == "trait" else None
    view.comparison = _comparison_view(
        address, "", node, path, info, unit="identify calls", suggest=suggest
    )


def _events_view(view: NodeView, node: dict[str, Any], catalog: BuilderCatalog) -> None:
    address, kind = view.address, node.get("kind")
    found = node.get("activity")
    selector: dict[str, Any] = found if isinstance(found, dict) else {}
    view.activity = activity_key(selector)
    known = {c.value for c in catalog.activities} | {c.value for c in catalog.roles}
    if view.activity and view.activity not in known:
        view.activity_missing = selector.get("name") or view.activity
    properties = catalog.properties(selector)
    view.paths = [
        Choice(path, info.label if info.label == path else f"{info.label} ({path})", info.type)
        for path, info in properties.items()
        if info.type in COMPARABLE
    ]
    for index, item in enumerate(node.get("where", [])):
        path = str(item.get("path", ""))
        view.filters.append(
            _comparison_view(
                address,
                f"where.{index}:",
                item,
                path,
                properties.get(path),
                unit="events",
                suggest=partial(catalog.suggestions, path=path, selector=selector),
            )
        )
    allowed = (
        LIFECYCLE_WINDOWS.get(node.get("change", ""), ("last",))
        if kind == "lifecycle"
        else tuple(WINDOW_TYPES)
    )
    view.window_types = [(k, label) for k, label in WINDOW_TYPES.items() if k in allowed]
    view.sources = [str(s) for s in node.get("sources", [])]


def builder_context(tree: dict[str, Any], *, segment_id: int | None = None) -> dict[str, Any]:
    """What the builder template needs to draw a tree: the nodes with their pickers (`root`,
    whose `node` is the tree as drawn), and the choices every node shares."""
    catalog = BuilderCatalog(segment_id=segment_id)
    tree = tree_normalise(tree, catalog)
    return {
        "root": _node_view(tree, (), catalog),
        "catalog": catalog,
        "kinds": list(KIND_LABELS.items()),
        "count_operators": list(COUNT_OPERATORS.items()),
        "window_units": list(WINDOW_UNITS),
        "lifecycle_changes": [
            ("first_time", "did for the first time"),
            ("stopped", "stopped doing"),
        ],
        "consent_channels": list(CONSENT_CHANNEL_LABELS.items()),
        "consent_states": [(state, CONSENT_STATE_LABELS[state]) for state in CONSENT_STATES],
        "lifecycle_labels": LIFECYCLE_CHANGES,
    }
