"""The segment definition as typed values: the condition tree of docs/segments.md, parsed once.

A definition is stored as JSON (`Segment.definition`); everything that reads it (the compiler,
the explanation, the sentence) reads these frozen dataclasses instead, with `match`.
`definition_parse` (segments/definition.py) checks a JSON tree against the catalog and returns
a `Group`; `tree_to_json` writes one back in the stored shape, and `tree_from_json` reads a
tree that was checked before (a stored definition) without asking the catalog again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, TypeAlias

Match: TypeAlias = Literal["all", "any"]
CountOperator: TypeAlias = Literal["at_least", "at_most", "exactly"]
LifecycleChange: TypeAlias = Literal["first_time", "stopped"]
ConsentChannel: TypeAlias = Literal["email", "sms"]
ConsentState: TypeAlias = Literal["granted", "withdrawn", "unknown"]
# A comparison's value: text, a number, a date as ISO text, or the texts of `one_of`.
ComparisonValue: TypeAlias = str | int | float | tuple[str, ...]
Number: TypeAlias = int | float


@dataclass(frozen=True)
class Comparison:
    """An operator and its value(s): `gte 50`, `one_of (Shoes, Bags)`, `is_set`."""

    operator: str
    value: ComparisonValue | None = None
    value2: Number | None = None


@dataclass(frozen=True)
class PropertyFilter:
    """A test on an event property: `properties.category equals Shoes`."""

    path: str
    comparison: Comparison


@dataclass(frozen=True)
class ActivityName:
    """An activity of the catalog by its kind and name (`track` `Order Completed`, `page`)."""

    kind: str
    name: str


@dataclass(frozen=True)
class ActivityRole:
    """Every activity with a commerce role (`order_completed`)."""

    role: str


ActivitySelector: TypeAlias = ActivityName | ActivityRole


@dataclass(frozen=True)
class LastWindow:
    amount: int
    unit: str


@dataclass(frozen=True)
class BetweenWindow:
    """Whole days, both included, in the site's time zone."""

    start: date
    end: date


@dataclass(frozen=True)
class EverWindow:
    pass


Window: TypeAlias = LastWindow | BetweenWindow | EverWindow


@dataclass(frozen=True)
class EventCount:
    operator: CountOperator
    value: int


@dataclass(frozen=True)
class Attribute:
    """A profile attribute: a computed column or a trait, compared."""

    scope: Literal["computed", "trait"]
    path: str
    comparison: Comparison
    negate: bool = False


@dataclass(frozen=True)
class Behaviour:
    """Did an activity a number of times in a window."""

    activity: ActivitySelector
    count: EventCount
    window: Window
    where: tuple[PropertyFilter, ...] = ()
    sources: tuple[int, ...] = ()
    negate: bool = False


@dataclass(frozen=True)
class Lifecycle:
    """Did an activity for the first time in a window, or stopped doing it."""

    change: LifecycleChange
    activity: ActivitySelector
    window: Window
    where: tuple[PropertyFilter, ...] = ()
    sources: tuple[int, ...] = ()
    negate: bool = False


@dataclass(frozen=True)
class SegmentRef:
    """Membership of another segment, by its id."""

    segment: int
    negate: bool = False


@dataclass(frozen=True)
class Consent:
    channel: ConsentChannel
    state: ConsentState
    negate: bool = False


@dataclass(frozen=True)
class Group:
    """All or any of its conditions; an empty group holds everyone."""

    match: Match
    conditions: tuple[Condition, ...] = ()
    negate: bool = False


Condition: TypeAlias = Group | Attribute | Behaviour | Lifecycle | SegmentRef | Consent
# A leaf that reads events: what behaviour and lifecycle conditions share.
EventCondition: TypeAlias = Behaviour | Lifecycle


class TreeShapeError(ValueError):
    """A JSON tree that is not in the shape `definition_parse` writes."""


# --- walking ---------------------------------------------------------------------------------


def tree_walk(node: Condition) -> Iterator[Condition]:
    """Every condition of a tree, depth first, the group itself first."""
    yield node
    if isinstance(node, Group):
        for child in node.conditions:
            yield from tree_walk(child)


def tree_segments(tree: Condition) -> set[int]:
    """The segments a definition names directly."""
    return {node.segment for node in tree_walk(tree) if isinstance(node, SegmentRef)}


# --- to the stored JSON ----------------------------------------------------------------------


def tree_to_json(node: Condition) -> dict[str, Any]:
    """The stored shape of a tree (docs/segments.md), keys in the order it has always had."""
    match node:
        case Group(match=how, conditions=conditions, negate=negate):
            return {
                "kind": "group",
                "match": how,
                "negate": negate,
                "conditions": [tree_to_json(child) for child in conditions],
            }
        case Attribute(scope=scope, path=path, comparison=comparison, negate=negate):
            return {
                "kind": "attribute",
                "negate": negate,
                "scope": scope,
                "path": path,
                **comparison_to_json(comparison),
            }
        case Behaviour(count=count, window=window, negate=negate):
            return {
                "kind": "behaviour",
                "negate": negate,
                **_events_to_json(node),
                "count": {"operator": count.operator, "value": count.value},
                "window": window_to_json(window),
            }
        case Lifecycle(change=change, window=window, negate=negate):
            return {
                "kind": "lifecycle",
                "negate": negate,
                "change": change,
                **_events_to_json(node),
                "window": window_to_json(window),
            }
        case SegmentRef(segment=segment, negate=negate):
            return {"kind": "segment", "negate": negate, "segment": segment}
        case Consent(channel=channel, state=state, negate=negate):
            return {"kind": "consent", "negate": negate, "channel": channel, "state": state}


def comparison_to_json(comparison: Comparison) -> dict[str, Any]:
    found: dict[str, Any] = {"operator": comparison.operator}
    if comparison.value is not None:
        value = comparison.value
        found["value"] = list(value) if isinstance(value, tuple) else value
    if comparison.value2 is not None:
        found["value2"] = comparison.value2
    return found


def activity_to_json(selector: ActivitySelector) -> dict[str, str]:
    match selector:
        case ActivityRole(role=role):
            return {"role": role}
        case ActivityName(kind=kind, name=name):
            return {"kind": kind, "name": name}


def window_to_json(window: Window) -> dict[str, Any]:
    match window:
        case LastWindow(amount=amount, unit=unit):
            return {"type": "last", "amount": amount, "unit": unit}
        case BetweenWindow(start=start, end=end):
            return {"type": "between", "start": start.isoformat(), "end": end.isoformat()}
        case EverWindow():
            return {"type": "ever"}


def _events_to_json(node: EventCondition) -> dict[str, Any]:
    return {
        "activity": activity_to_json(node.activity),
        "where": [
            {"path": item.path, **comparison_to_json(item.comparison)} for item in node.where
        ],
        "sources": list(node.sources),
    }


# --- from a JSON tree checked before ---------------------------------------------------------


def tree_from_json(tree: Mapping[str, Any]) -> Group:
    """A tree checked before (a stored definition, the output of `definition_clean`) as
    typed values, without asking the catalog. Raises TreeShapeError for any other shape."""
    node = _condition(tree)
    if not isinstance(node, Group):
        raise TreeShapeError("A definition is a group of conditions.")
    return node


def _condition(node: Any) -> Condition:
    if not isinstance(node, Mapping):
        raise TreeShapeError("A condition must be an object.")
    negate = bool(node.get("negate", False))
    try:
        match node.get("kind"):
            case "group":
                return Group(
                    match="any" if node.get("match") == "any" else "all",
                    conditions=tuple(_condition(child) for child in node.get("conditions", [])),
                    negate=negate,
                )
            case "attribute":
                return Attribute(
                    scope="computed" if node["scope"] == "computed" else "trait",
                    path=str(node["path"]),
                    comparison=comparison_from_json(node),
                    negate=negate,
                )
            case "behaviour":
                count = node.get("count", {"operator": "at_least", "value": 1})
                return Behaviour(
                    activity=activity_from_json(node["activity"]),
                    count=EventCount(count["operator"], int(count["value"])),
                    window=window_from_json(node["window"]),
                    where=_filters(node.get("where", [])),
                    sources=tuple(int(source) for source in node.get("sources", [])),
                    negate=negate,
                )
            case "lifecycle":
                return Lifecycle(
                    change="first_time" if node["change"] == "first_time" else "stopped",
                    activity=activity_from_json(node["activity"]),
                    window=window_from_json(node["window"]),
                    where=_filters(node.get("where", [])),
                    sources=tuple(int(source) for source in node.get("sources", [])),
                    negate=negate,
                )
            case "segment":
                return SegmentRef(segment=int(node["segment"]), negate=negate)
            case "consent":
                return Consent(channel=node["channel"], state=node["state"], negate=negate)
    except (KeyError, TypeError, ValueError) as error:
        raise TreeShapeError(
            f"A {node.get('kind')} condition is not well formed: {error}."
        ) from None
    raise TreeShapeError(f"Unknown condition kind {str(node.get('kind'))[:40]!r}.")


def comparison_from_json(node: Mapping[str, Any]) -> Comparison:
    value = node.get("value")
    if isinstance(value, list):
        value = tuple(str(item) for item in value)
    return Comparison(operator=str(node["operator"]), value=value, value2=node.get("value2"))


def activity_from_json(selector: Mapping[str, Any]) -> ActivitySelector:
    if selector.get("role"):
        return ActivityRole(str(selector["role"]))
    return ActivityName(str(selector["kind"]), str(selector.get("name", "")))


def window_from_json(window: Mapping[str, Any]) -> Window:
    match window.get("type"):
        case "last":
            return LastWindow(amount=int(window["amount"]), unit=str(window["unit"]))
        case "between":
            return BetweenWindow(
                start=date.fromisoformat(window["start"]), end=date.fromisoformat(window["end"])
            )
        case "ever":
            return EverWindow()
    raise TreeShapeError(f"Unknown window {str(window.get('type'))[:40]!r}.")


def _filters(items: list[Mapping[str, Any]]) -> tuple[PropertyFilter, ...]:
    return tuple(PropertyFilter(str(item["path"]), comparison_from_json(item)) for item in items)
