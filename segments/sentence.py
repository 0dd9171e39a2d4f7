"""A definition read back as one sentence a marketer can check: "People who did Product Added
at least once in the last 7 days and did not do Order Completed in the last 7 days"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingestion.models import Activity, CommerceRole, Source
from segments.definition import (
    COMPUTED_ATTRIBUTES,
    CONSENT_CHANNELS,
    CONSENT_STATES,
    COUNT_OPERATORS,
    NO_VALUE,
)
from segments.models import Segment
from segments.tree import (
    ActivityName,
    ActivityRole,
    ActivitySelector,
    Attribute,
    Behaviour,
    BetweenWindow,
    Comparison,
    Condition,
    Consent,
    EventCondition,
    EventCount,
    EverWindow,
    Group,
    LastWindow,
    Lifecycle,
    PropertyFilter,
    SegmentRef,
    Window,
    tree_from_json,
    tree_segments,
    tree_walk,
)


def definition_sentence(tree: Group | Mapping[str, Any]) -> str:
    """The definition as one sentence; "Everyone" for a definition with no conditions."""
    if not isinstance(tree, Group):
        tree = tree_from_json(tree)
    labels = SentenceLabels(tree)
    body = group_sentence(tree, labels, top=True)
    if not body:
        return "Everyone"
    return f"People {body}" if body.startswith("whose ") else f"People who {body}"


class SentenceLabels:
    """Display names for what a definition names, read in a few queries."""

    def __init__(self, tree: Group) -> None:
        events = [node for node in tree_walk(tree) if isinstance(node, Behaviour | Lifecycle)]
        names = {node.activity.name for node in events if isinstance(node.activity, ActivityName)}
        self.activities: dict[tuple[str, str], str] = {}
        for activity in Activity.objects.filter(name__in=names):
            self.activities[(activity.kind, activity.name)] = activity.label
        self.segments: dict[int, str] = dict(
            Segment.objects.filter(pk__in=tree_segments(tree)).values_list("pk", "name")
        )
        source_ids = {source for node in events for source in node.sources}
        self.sources: dict[int, str] = dict(
            Source.objects.filter(pk__in=source_ids).values_list("pk", "name")
        )

    def activity(self, selector: ActivitySelector) -> str:
        match selector:
            case ActivityRole(role=role):
                return f"any “{CommerceRole(role).label}” activity"
            case ActivityName(kind=kind, name=name):
                if (kind, name) in self.activities:
                    return self.activities[(kind, name)]
                return {"page": "Page viewed", "screen": "Screen viewed"}.get(kind, name or "?")


def group_sentence(node: Group, labels: SentenceLabels, *, top: bool = False) -> str:
    parts = [node_sentence(child, labels) for child in node.conditions]
    parts = [part for part in parts if part]
    if not parts:
        return "" if top else "(no conditions)"
    parts[-1] = parts[-1].rstrip(",")
    joiner = " and " if node.match == "all" else " or "
    text = joiner.join(parts)
    if node.negate:
        return f"are not ({text})" if len(parts) > 1 else f"are not such that {text}"
    if top or len(parts) == 1:
        return text
    return f"({text})"


def node_sentence(node: Condition, labels: SentenceLabels) -> str:
    match node:
        case Group():
            return group_sentence(node, labels)
        case Attribute(scope="computed", path=path, comparison=comparison, negate=negate):
            name = COMPUTED_ATTRIBUTES.get(path, (path, ""))[0]
            name = name[0].lower() + name[1:] if not name.startswith("RFM") else name
            return f"whose {name} {_comparison_text(comparison, negate=negate)}"
        case Attribute(path=path, comparison=comparison, negate=negate):
            return f"whose {path} {_comparison_text(comparison, negate=negate)}"
        case Behaviour(count=count, window=window, negate=negate):
            activity = labels.activity(node.activity)
            plain = count.operator == "at_least" and count.value == 1
            times = "" if negate and plain else f" {_times_text(count)}"
            verb = "did not do" if negate else "did"
            # A trailing comma closes the filters before the next condition; the group drops
            # it after its last one.
            return f"{verb} {activity}{times} {_window_text(window)}{_events_text(node, labels)}"
        case Lifecycle(change="first_time", window=window, negate=negate):
            activity = labels.activity(node.activity)
            details = _events_text(node, labels)
            text = f"did {activity} for the first time {_window_text(window)}{details}".rstrip(",")
            return f"not ({text})" if negate else text
        case Lifecycle(window=window, negate=negate):
            activity = labels.activity(node.activity)
            details = _events_text(node, labels).rstrip(",")
            length = _window_text(window, bare=True)
            text = (
                f"stopped doing {activity}{details} (did it in the {length} "
                f"before the last {length}, not since)"
            )
            return f"not ({text})" if negate else text
        case SegmentRef(segment=segment, negate=negate):
            name = labels.segments.get(segment, f"segment #{segment}")
            return f"are {'not ' if negate else ''}in {name}"
        case Consent(channel=channel, state="unknown", negate=negate):
            channel_name = CONSENT_CHANNELS.get(channel, "?")
            return f"have {'' if negate else 'not '}given {channel_name} consent either way"
        case Consent(channel=channel, state=state, negate=negate):
            text = f"{CONSENT_STATES.get(state, '?')} {CONSENT_CHANNELS.get(channel, '?')}"
            return f"have not {text}" if negate else f"have {text}"


_SENTENCE_OPERATORS = {
    "equals": "is",
    "not_equals": "is not",
    "contains": "contains",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "before": "is before",
    "after": "is after",
    "is_set": "is set",
    "is_not_set": "is not set",
    "is_true": "is true",
    "is_false": "is false",
}


def _comparison_text(comparison: Comparison, *, negate: bool = False) -> str:
    """ "is Shoes", "contains shoe", "> 50"; with `negate`, the opposite ("is not Shoes",
    "does not contain shoe", "is not > 50")."""
    text = _plain_comparison_text(comparison)
    if not negate:
        return text
    for start, opposite in (
        ("is not ", "is "),
        ("is ", "is not "),
        ("contains ", "does not contain "),
        ("starts with ", "does not start with "),
        ("ends with ", "does not end with "),
    ):
        if text.startswith(start):
            return opposite + text[len(start) :]
    return f"is not {text}"


def _plain_comparison_text(comparison: Comparison) -> str:
    operator, value = comparison.operator, comparison.value
    if operator == "one_of" and isinstance(value, tuple):
        return f"is one of {', '.join(value)}"
    if operator in NO_VALUE:
        return _SENTENCE_OPERATORS[operator]
    if operator == "between":
        return f"is between {value} and {comparison.value2}"
    if operator == "in_last_days":
        return f"is in the last {value} days"
    if operator == "more_than_days_ago":
        return f"is more than {value} days ago"
    return f"{_SENTENCE_OPERATORS.get(operator, operator)} {value}"


def filters_text(where: tuple[PropertyFilter, ...]) -> str:
    """Property filters in words: "where category is Shoes, with an item of products whose
    category is Shoes and price > 50" (empty without filters)."""
    plain: list[str] = []
    arrays: dict[str, list[str]] = {}
    for item in where:
        head, sep, rest = item.path.partition("[].")
        if sep and rest:
            arrays.setdefault(head, []).append(f"{rest} {_comparison_text(item.comparison)}")
        else:
            plain.append(f"{item.path} {_comparison_text(item.comparison)}")
    clauses = [f"where {' and '.join(plain)}"] if plain else []
    clauses += [
        f"with an item of {head} whose {' and '.join(tests)}" for head, tests in arrays.items()
    ]
    return ", ".join(clauses)


def _events_text(node: EventCondition, labels: SentenceLabels) -> str:
    """ ", where category is Shoes, with an item of products whose category is Shoes and
    price > 50," then " on Shop"."""
    parts = []
    if clauses := filters_text(node.where):
        parts.append(", " + clauses + ",")
    if node.sources:
        names = ", ".join(labels.sources.get(s, f"#{s}") for s in node.sources)
        parts.append(f" on {names}")
    return "".join(parts)


def _times_text(count: EventCount) -> str:
    times = "once" if count.value == 1 else f"{count.value} times"
    return f"{COUNT_OPERATORS[count.operator]} {times}"


def _window_text(window: Window, *, bare: bool = False) -> str:
    match window:
        case LastWindow(amount=amount, unit=unit):
            unit_text = unit[:-1] if amount == 1 else unit
            text = f"{amount} {unit_text}" if amount != 1 else unit_text
            return text if bare else f"in the last {text}"
        case BetweenWindow(start=start, end=end):
            return f"between {start.isoformat()} and {end.isoformat()}"
        case EverWindow():
            return "ever"
