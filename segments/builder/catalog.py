"""The catalog as the builder's pickers need it: activities, roles, traits, sources, other
segments and the properties of the activities a tree names, each with its type, examples and
the JSON types its values came in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ingestion.models import Activity, ActivityProperty, CommerceRole, ProfileAttribute, Source
from segments import selectors
from segments.builder.form import activity_key, form_value
from segments.definition import COMPUTED_ATTRIBUTES
from segments.models import Segment

# Values a text input suggests: recent ones first, then the catalog's examples.
MAX_SUGGESTIONS = 40
# The types a comparison can be made on; objects and whole arrays are reached through their
# fields and items (`products[].category`).
COMPARABLE = ("string", "number", "boolean", "datetime", "list")


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
    return [form_value(v) for v in values if isinstance(v, str | int | float) and v != ""][:20]


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
