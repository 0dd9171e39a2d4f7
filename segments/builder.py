"""The visual segment builder: the condition tree as a form, and back.

The builder is one HTML form. Every node of the tree has an address (`n` for the top group,
`n.0` for its first condition, `n.0.2` for the third condition of that group) and its fields
are named `<address>:<field>`: `n.0:kind`, `n.0:activity`, `n.0:where.1:path`. Reading the
form back is lenient, because a half-filled tree is normal while a marketer edits:
`definition_clean` judges the tree only when it is previewed or saved.

`builder_context` turns a tree into what the template draws: for each node its pickers
(activities, properties, traits, computed attributes) filled from the catalog, the operators
that fit the chosen field's type, and the value input that fits the operator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

from django.http import QueryDict

from ingestion.models import Activity, ActivityProperty, CommerceRole, ProfileAttribute, Source
from segments import selectors
from segments.definition import (
    COMPUTED_ATTRIBUTES,
    CONSENT_STATES,
    COUNT_OPERATORS,
    LIFECYCLE_CHANGES,
    NO_VALUE,
    OPERATORS,
    WINDOW_UNITS,
    empty_group,
    new_condition,
)
from segments.models import Segment

ROOT = "n"
# Deeper or wider than definition_clean accepts is refused there, with a message; the form
# reader only keeps addresses short enough that a crafted form cannot make it do much work.
_FIELD = re.compile(r"^n((?:\.[0-9]{1,3}){0,8}):([a-z_0-9.:]{1,40})\Z")
_FILTER_FIELD = re.compile(r"^where\.([0-9]{1,3}):([a-z_0-9]{1,20})\Z")
# A whole number as typed: ASCII digits only. `str.isdigit` also accepts "²" and "①",
# which `int` refuses.
_WHOLE_NUMBER = re.compile(r"[0-9]{1,15}")
MAX_FORM_NODES = 300
# Values a text input suggests: recent ones first, then the catalog's examples.
MAX_SUGGESTIONS = 40

KIND_LABELS = {
    "behaviour": "Did an activity",
    "attribute": "Profile attribute",
    "lifecycle": "Started or stopped an activity",
    "segment": "Member of a segment",
    "consent": "Consent",
    "group": "Group of conditions",
}
WINDOW_TYPES = {"last": "in the last", "between": "between two dates", "ever": "ever"}
LIFECYCLE_WINDOWS = {"first_time": ("last", "between"), "stopped": ("last",)}
CONSENT_STATE_LABELS = {"granted": "opted in", "withdrawn": "opted out", "unknown": "not given"}
CONSENT_CHANNEL_LABELS = {"email": "Email", "sms": "SMS"}
# The types a comparison can be made on; objects and whole arrays are reached through their
# fields and items (`products[].category`).
COMPARABLE = ("string", "number", "boolean", "datetime", "list")


# --- the form, read back into a tree ---------------------------------------------------------


def _address(parts: Iterable[int]) -> str:
    return ".".join([ROOT, *(str(p) for p in parts)])


def _whole_number(value: str) -> int | str:
    """A count, an amount or an id as typed: a number when it is one, else the text, so
    that definition_clean can say what is wrong with it."""
    value = value.strip()
    return int(value) if _WHOLE_NUMBER.fullmatch(value) else value


def whole_number_or_none(value: str) -> int | None:
    """An id sent by a form (a segment, a source): a number, or None for anything else."""
    value = value.strip()
    return int(value) if _WHOLE_NUMBER.fullmatch(value) else None


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
        node["value"] = [part.strip() for part in value.split(",") if part.strip()]
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


def _node(address: tuple[int, ...], fields: dict[tuple[int, ...], dict[str, list[str]]]):
    values = fields.get(address, {})
    kind = "group" if not address else _first(values, "kind")
    if kind not in KIND_LABELS:
        kind = "behaviour"
    node = new_condition(kind)
    node["negate"] = "negate" in values
    if kind == "group":
        node["match"] = "any" if _first(values, "match") == "any" else "all"
        children = sorted(
            {
                key[len(address)]
                for key in fields
                if len(key) > len(address) and key[: len(address)] == address
            }
        )
        node["conditions"] = [_node((*address, index), fields) for index in children]
    elif kind == "attribute":
        if "field" in values:
            scope, _, path = _first(values, "field").partition(":")
            node["scope"], node["path"] = scope, path
        if "operator" in values:
            node.pop("value", None)
            _comparison(values, node)
    elif kind in ("behaviour", "lifecycle"):
        _events(values, node)
        if kind == "behaviour":
            count = node["count"]
            if "count_operator" in values:
                count["operator"] = _first(values, "count_operator")
            if "count_value" in values:
                count["value"] = _whole_number(_first(values, "count_value"))
        if kind == "lifecycle" and "change" in values:
            node["change"] = _first(values, "change")
    elif kind == "segment":
        if "segment" in values:
            # Picked from a list of ids: anything else is "no segment chosen yet".
            node["segment"] = whole_number_or_none(_first(values, "segment")) or None
    elif kind == "consent":
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
        # nobody means it.
        fields.setdefault(address, {})[match.group(2)] = [
            str(v).replace("\x00", "") for v in values
        ]
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
        pairs.append((f"{address}:{name}", _display(value)))

    def comparison(address: str, prefix: str, node: Mapping[str, Any]) -> None:
        add(address, f"{prefix}operator", node.get("operator", ""))
        if node.get("operator") in NO_VALUE:
            return
        add(address, f"{prefix}value", node.get("value", ""))
        if node.get("operator") == "between":
            add(address, f"{prefix}value2", node.get("value2", ""))

    def visit(node: Mapping[str, Any], parts: tuple[int, ...]) -> None:
        address = _address(parts)
        kind = node.get("kind", "")
        add(address, "kind", kind)
        if node.get("negate"):
            add(address, "negate", "1")
        if kind == "group":
            add(address, "match", node.get("match", "all"))
            for index, child in enumerate(node.get("conditions", [])):
                visit(child, (*parts, index))
        elif kind == "attribute":
            add(address, "field", f"{node.get('scope', '')}:{node.get('path', '')}")
            comparison(address, "", node)
        elif kind in ("behaviour", "lifecycle"):
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
        elif kind == "segment":
            add(address, "segment", node.get("segment") or "")
        elif kind == "consent":
            add(address, "channel", node.get("channel", ""))
            add(address, "state", node.get("state", ""))

    visit(tree, ())
    return pairs


def _display(value: Any) -> str:
    """A value as the builder's input shows it: lists comma-separated, numbers plainly."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_display(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
    """The tree after a builder action. Actions naming a node that is not there (a stale
    page, a crafted form) change nothing."""
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
        and _WHOLE_NUMBER.fullmatch(argument)
        and int(argument) < len(node.get("where", []))
    ):
        del node["where"][int(argument)]
    return tree


# --- the catalog, as the pickers need it -----------------------------------------------------


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    type: str = ""


@dataclass
class FieldInfo:
    """A field a condition compares: its label, type and example values from the catalog,
    whether it holds personal data, and the JSON types its values came in (in how many
    events or identify calls), for a note when they disagree."""

    label: str
    type: str
    examples: list[str] = field(default_factory=list)
    personal: bool = False
    type_counts: dict[str, int] = field(default_factory=dict)
    volume: int = 0

    def add_counts(self, found: Any) -> None:
        self.personal = self.personal or found.personal
        self.volume += found.volume
        for kind, count in found.type_counts.items():
            self.type_counts[kind] = self.type_counts.get(kind, 0) + count


# The JSON types as a marketer reads them.
TYPE_WORDS = {
    "string": "text",
    "number": "a number",
    "boolean": "true or false",
    "datetime": "a date",
    "object": "an object",
    "array": "a list",
}
# What the compiler reads of a field of each type (segments/compiler.py, `json_scalar`).
_COMPARED = {
    "string": "only text values are compared (numbers as text)",
    "number": "only numbers are compared (and text holding a plain number, like “12”)",
    "boolean": "only true or false values are compared",
    "datetime": "only dates are compared",
}


def drift_note(info: FieldInfo | None, *, unit: str) -> str:
    """Why some values of a field count as "no value": "Also seen as text in 2 of 5 events;
    only numbers are compared (…)". Empty when every value came in the field's type."""
    if info is None or info.type not in _COMPARED:
        return ""
    others = {kind: n for kind, n in info.type_counts.items() if kind != info.type and n}
    if not others:
        return ""
    if info.type == "string":
        # Numbers are read as text: only the other types are left out.
        others.pop("number", None)
        if not others:
            return ""
    if info.type == "datetime":
        # A date arrives as a string; other strings are the drift.
        others = {("text" if k == "string" else k): n for k, n in others.items()}
    total = max(info.volume, sum(info.type_counts.values()))
    seen = " and ".join(
        f"as {TYPE_WORDS.get(kind, kind)} in {count:,}"
        for kind, count in sorted(others.items(), key=lambda item: -item[1])
    )
    return f"Also seen {seen} of {total:,} {unit}; {_COMPARED[info.type]}."


def _examples(found: Any) -> list[str]:
    if found.personal:
        return []
    values = found.examples if isinstance(found.examples, list) else []
    return [_display(v) for v in values if isinstance(v, str | int | float) and v != ""][:20]


def _field_info(found: Any) -> FieldInfo:
    info = FieldInfo(found.label, found.type, _examples(found))
    info.add_counts(found)
    return info


def _property_fields(properties: Iterable[ActivityProperty]) -> dict[str, FieldInfo]:
    """Property paths of the activities a selector means, with the type definition_clean
    uses: the pinned type of any of them, else the one inferred over the most events."""
    fields: dict[str, FieldInfo] = {}
    pinned: set[str] = set()
    for found in sorted(properties, key=lambda p: -p.volume):
        info = fields.get(found.path)
        if info is None:
            info = fields[found.path] = FieldInfo(found.label, found.inferred_type)
        if found.pinned_type and found.path not in pinned:
            info.type = found.pinned_type
            pinned.add(found.path)
        info.add_counts(found)
        for example in _examples(found):
            if example not in info.examples:
                info.examples.append(example)
    return dict(sorted(fields.items()))


class BuilderCatalog:
    """The catalog read once for one rendering of the builder: activities, roles, traits,
    sources, other segments, and the properties of the activities the tree names."""

    def __init__(self, *, segment_id: int | None = None) -> None:
        self.segment_id = segment_id
        activities = list(
            Activity.objects.exclude(status=Activity.Status.HIDDEN).order_by("kind", "name")
        )
        self.activities = [
            Choice(activity_key({"kind": a.kind, "name": a.name}), _activity_label(a))
            for a in activities
        ]
        self.roles = [
            Choice(f"role:{value}", f"Any activity with role “{label}”")
            for value, label in CommerceRole.choices
            if value
        ]
        self.traits = {a.path: _field_info(a) for a in ProfileAttribute.objects.order_by("path")}
        self.sources = [Choice(str(s.pk), s.name) for s in Source.objects.order_by("name")]
        segments = Segment.objects.order_by("name", "pk")
        if segment_id is not None:
            segments = segments.exclude(pk=segment_id)
        self.segments = [Choice(str(pk), name) for pk, name in segments.values_list("pk", "name")]
        self._properties: dict[str, dict[str, FieldInfo]] = {}
        self._suggestions: dict[tuple[str, str], list[str]] = {}

    def properties(self, selector: Mapping[str, Any] | None) -> dict[str, FieldInfo]:
        key = activity_key(selector)
        if key not in self._properties:
            found: list[ActivityProperty] = []
            if selector and selector.get("role"):
                found = list(ActivityProperty.objects.filter(activity__role=selector["role"]))
            elif selector and selector.get("kind"):
                found = list(
                    ActivityProperty.objects.filter(
                        activity__kind=selector["kind"], activity__name=selector.get("name", "")
                    )
                )
            self._properties[key] = _property_fields(found)
        return self._properties[key]

    def suggestions(
        self, info: FieldInfo, path: str, *, selector: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Values to suggest for a text field: the most common ones among the latest events
        of the activity (`selector`) or the latest profiles (a trait), then the catalog's
        examples. Never for a field marked personal. Read once per field and rendering."""
        if info.personal or info.type != "string":
            return []
        key = (activity_key(selector) if selector is not None else "trait", path)
        if key not in self._suggestions:
            if selector is not None:
                recent = selectors.recent_property_values(selector=dict(selector), path=path)
            else:
                recent = selectors.recent_trait_values(path=path)
            merged = list(dict.fromkeys([*recent, *info.examples]))
            self._suggestions[key] = merged[:MAX_SUGGESTIONS]
        return self._suggestions[key]

    def attribute(self, scope: str, path: str) -> FieldInfo | None:
        if scope == "computed" and path in COMPUTED_ATTRIBUTES:
            label, kind = COMPUTED_ATTRIBUTES[path]
            return FieldInfo(label, kind)
        if scope == "trait":
            return self.traits.get(path)
        return None

    @cached_property
    def computed_choices(self) -> list[Choice]:
        return [
            Choice(f"computed:{path}", label, kind)
            for path, (label, kind) in COMPUTED_ATTRIBUTES.items()
        ]

    @cached_property
    def trait_choices(self) -> list[Choice]:
        return [
            Choice(
                f"trait:{path}",
                info.label if info.label == path else f"{info.label} ({path})",
                info.type,
            )
            for path, info in self.traits.items()
            if info.type in COMPARABLE
        ]


def _activity_label(activity: Activity) -> str:
    if activity.kind == Activity.Kind.TRACK and activity.display_name:
        return f"{activity.display_name} ({activity.name})"
    return activity.label


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
        value=_display(node.get("value", "")),
        value2=_display(node.get("value2", "")),
        examples=examples,
        drift=drift_note(info, unit=unit),
    )


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
        return self.node.get("kind", "")

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
    address = _address(parts)
    view = NodeView(
        address=address,
        number=".".join(str(p + 1) for p in parts),
        node=node,
        depth=len(parts),
    )
    kind = node.get("kind")
    if kind == "group":
        view.children = [
            _node_view(child, (*parts, index), catalog)
            for index, child in enumerate(node.get("conditions", []))
        ]
    elif kind == "attribute":
        scope, path = str(node.get("scope", "")), str(node.get("path", ""))
        info = catalog.attribute(scope, path)
        view.field_key = f"{scope}:{path}" if path else ""
        if info is None and path:
            view.field_missing = path
        suggest = (lambda found: catalog.suggestions(found, path)) if scope == "trait" else None
        view.comparison = _comparison_view(
            address, "", node, path, info, unit="identify calls", suggest=suggest
        )
    elif kind in ("behaviour", "lifecycle"):
        activity = node.get("activity")
        selector = activity if isinstance(activity, dict) else {}
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
    elif kind == "segment":
        view.segment = _display(node.get("segment"))
        if view.segment and view.segment not in {c.value for c in catalog.segments}:
            view.segment_missing = view.segment
    return view


def tree_normalise(tree: dict[str, Any], catalog: BuilderCatalog) -> dict[str, Any]:
    """Keep a tree being edited drawable: an operator that does not fit its field's new
    type becomes the type's first one (its value cleared), and a lifecycle window the
    change does not allow becomes the default one."""

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
        kind = node.get("kind")
        if kind == "group":
            for child in node.get("conditions", []):
                visit(child)
        elif kind == "attribute":
            comparison(node, catalog.attribute(str(node.get("scope")), str(node.get("path"))))
        elif kind in ("behaviour", "lifecycle"):
            properties = catalog.properties(node.get("activity"))
            for item in node.get("where", []):
                comparison(item, properties.get(str(item.get("path", ""))))
            if kind == "lifecycle":
                allowed = LIFECYCLE_WINDOWS.get(node.get("change", ""), ("last",))
                if node.get("window", {}).get("type") not in allowed:
                    node["window"] = new_condition("lifecycle")["window"]

    visit(tree)
    return tree


def builder_context(tree: dict[str, Any], *, segment_id: int | None = None) -> dict[str, Any]:
    """What the builder template needs to draw a tree: the nodes with their pickers, and
    the choices every node shares."""
    catalog = BuilderCatalog(segment_id=segment_id)
    tree_normalise(tree, catalog)
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
