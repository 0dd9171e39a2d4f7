"""The segment definition: a JSON condition tree (docs/segments.md), checked against the catalog
and parsed into typed values (segments/tree.py) by `definition_parse`."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard, cast

from django.utils.dateparse import parse_date, parse_datetime

from ingestion.catalog.paths import path_parse
from ingestion.models import Activity, ActivityProperty, CommerceRole, ProfileAttribute, Source
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
    ConsentChannel,
    ConsentState,
    CountOperator,
    EventCount,
    EverWindow,
    Group,
    LastWindow,
    Lifecycle,
    LifecycleChange,
    Match,
    PropertyFilter,
    SegmentRef,
    Window,
    activity_from_json,
    tree_to_json,
)

MAX_DEPTH = 6
MAX_CONDITIONS = 100
MAX_LIST_VALUES = 200
MAX_TEXT = 1000
MAX_COUNT = 1_000_000
MAX_WINDOW_DAYS = 36_500

# Computed attributes: the profile's own columns, by the name a definition uses, with their
# label and type. Only these names ever become column references.
COMPUTED_ATTRIBUTES: dict[str, tuple[str, str]] = {
    "email": ("Email", "string"),
    "name": ("Name", "string"),
    "user_id": ("User id", "string"),
    "created_at": ("Profile created", "datetime"),
    "first_seen": ("First seen", "datetime"),
    "last_seen": ("Last seen", "datetime"),
    "last_order_at": ("Last order", "datetime"),
    "event_count": ("Events", "number"),
    "orders_count": ("Orders", "number"),
    "revenue": ("Revenue", "number"),
    "average_order_value": ("Average order value", "number"),
    "engagement_score": ("Engagement score", "number"),
    "rfm_recency": ("RFM recency (1-5)", "number"),
    "rfm_frequency": ("RFM frequency (1-5)", "number"),
    "rfm_monetary": ("RFM monetary (1-5)", "number"),
    "rfm_score": ("RFM score", "string"),
    "preferred_categories": ("Preferred categories", "list"),
    "preferred_brands": ("Preferred brands", "list"),
}

OPERATORS: dict[str, list[tuple[str, str]]] = {
    "string": [
        ("equals", "equals"),
        ("not_equals", "does not equal"),
        ("contains", "contains"),
        ("starts_with", "starts with"),
        ("ends_with", "ends with"),
        ("one_of", "is one of"),
        ("is_set", "is set"),
        ("is_not_set", "is not set"),
    ],
    "number": [
        ("equals", "="),
        ("not_equals", "≠"),
        ("gt", ">"),
        ("gte", "≥"),
        ("lt", "<"),
        ("lte", "≤"),
        ("between", "between"),
        ("is_set", "is set"),
        ("is_not_set", "is not set"),
    ],
    "boolean": [
        ("is_true", "is true"),
        ("is_false", "is false"),
        ("is_set", "is set"),
        ("is_not_set", "is not set"),
    ],
    "datetime": [
        ("before", "is before"),
        ("after", "is after"),
        ("in_last_days", "is in the last … days"),
        ("more_than_days_ago", "is more than … days ago"),
        ("is_set", "is set"),
        ("is_not_set", "is not set"),
    ],
    "list": [
        ("one_of", "include one of"),
        ("is_set", "are known"),
        ("is_not_set", "are not known"),
    ],
}
NO_VALUE = {"is_set", "is_not_set", "is_true", "is_false"}
COUNT_OPERATORS = {"at_least": "at least", "at_most": "at most", "exactly": "exactly"}
WINDOW_UNITS = {"minutes": 1 / 1440, "hours": 1 / 24, "days": 1, "weeks": 7}
CONSENT_CHANNELS = {"email": "email", "sms": "SMS"}
CONSENT_STATES = {"granted": "opted in to", "withdrawn": "opted out of", "unknown": "not given"}
LIFECYCLE_CHANGES = {"first_time": "for the first time", "stopped": "stopped"}
KINDS = ("group", "attribute", "behaviour", "lifecycle", "segment", "consent")


class DefinitionError(ValueError):
    """A definition that cannot be saved or run, with one message per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def empty_group(match: str = "all") -> dict[str, Any]:
    return {"kind": "group", "match": match, "negate": False, "conditions": []}


def new_condition(kind: str) -> dict[str, Any]:
    """A blank node of a kind, with the defaults the builder starts from."""
    if kind == "group":
        return empty_group("any")
    if kind == "attribute":
        return {
            "kind": "attribute",
            "negate": False,
            "scope": "computed",
            "path": "orders_count",
            "operator": "gte",
            "value": 1,
        }
    if kind == "behaviour":
        return {
            "kind": "behaviour",
            "negate": False,
            "activity": {},
            "count": {"operator": "at_least", "value": 1},
            "window": {"type": "last", "amount": 7, "unit": "days"},
            "where": [],
            "sources": [],
        }
    if kind == "lifecycle":
        return {
            "kind": "lifecycle",
            "negate": False,
            "change": "first_time",
            "activity": {},
            "window": {"type": "last", "amount": 30, "unit": "days"},
            "where": [],
            "sources": [],
        }
    if kind == "segment":
        return {"kind": "segment", "negate": False, "segment": None}
    if kind == "consent":
        return {"kind": "consent", "negate": False, "channel": "email", "state": "granted"}
    raise ValueError(f"Unknown condition kind {kind!r}.")


# --- field types from the catalog ------------------------------------------------------------


def field_type(scope: str, path: str) -> str:
    """The type of a profile field: a computed attribute's own, or the trait's in the
    catalog (pinned, else inferred). Empty when unknown."""
    if scope == "computed":
        entry = COMPUTED_ATTRIBUTES.get(path)
        return entry[1] if entry else ""
    if scope == "trait":
        attribute = ProfileAttribute.objects.filter(path=path).first()
        return attribute.type if attribute else ""
    return ""


def activity_filter(selector: ActivitySelector | Mapping[str, Any]) -> dict[str, str]:
    """ORM filter arguments (fixed names) for the activities a selector means."""
    if isinstance(selector, Mapping):
        selector = activity_from_json(selector) if selector else ActivityName("", "")
    match selector:
        case ActivityRole(role=role):
            return {"role": role}
        case ActivityName(kind=kind, name=name):
            return {"kind": kind, "name": name}


def property_type(selector: ActivitySelector | Mapping[str, Any], path: str) -> str:
    """The type of an event property of the activities a selector means: pinned on any of
    them, else the one inferred over the most events."""
    fields = list(
        ActivityProperty.objects.filter(
            path=path,
            **{f"activity__{key}": value for key, value in activity_filter(selector).items()},
        ).order_by("-volume")
    )
    for found in fields:
        if found.pinned_type:
            return str(found.pinned_type)
    return str(fields[0].inferred_type) if fields else ""


# --- checking and parsing --------------------------------------------------------------------


@dataclass
class _Checker:
    """Reads a JSON tree into typed values, collecting one message per problem."""

    segment_id: int | None
    errors: list[str]
    conditions: int = 0

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}" if where else message)

    def node(self, node: Any, where: str, depth: int) -> Condition | None:
        if not isinstance(node, dict):
            self.error(where, "a condition must be an object.")
            return None
        kind = node.get("kind")
        if kind not in KINDS:
            self.error(where, f"unknown condition kind {str(kind)[:40]!r}.")
            return None
        negate = node.get("negate", False)
        if not isinstance(negate, bool):
            self.error(where, "`negate` must be true or false.")
            return None
        if kind == "group":
            return self.group(node, where, depth)
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            if self.conditions == MAX_CONDITIONS + 1:
                self.error("", f"a segment has at most {MAX_CONDITIONS} conditions.")
            return None
        leaf: Condition | None
        match kind:
            case "attribute":
                leaf = self.attribute(node, where)
            case "behaviour":
                leaf = self.behaviour(node, where)
            case "lifecycle":
                leaf = self.lifecycle(node, where)
            case "segment":
                leaf = self.segment(node, where)
            case _:
                leaf = self.consent(node, where)
        return None if leaf is None else replace(leaf, negate=negate)

    def group(self, node: dict[str, Any], where: str, depth: int) -> Group | None:
        if depth > MAX_DEPTH:
            self.error(where, f"groups nest at most {MAX_DEPTH} deep.")
            return None
        match = node.get("match", "all")
        if match not in ("all", "any"):
            self.error(where, "a group matches `all` or `any` of its conditions.")
            return None
        children = node.get("conditions", [])
        if not isinstance(children, list):
            self.error(where, "`conditions` must be a list.")
            return None
        clean = []
        for index, child in enumerate(children, start=1):
            checked = self.node(
                child, f"{where}.{index}" if where else f"Condition {index}", depth + 1
            )
            if checked is not None:
                clean.append(checked)
        if not children and depth > 1:
            self.error(where, "an empty group; add a condition or remove it.")
        # The top group's `negate` is judged by definition_parse, after its conditions.
        return Group(
            match=cast(Match, match), conditions=tuple(clean), negate=node.get("negate") is True
        )

    # --- leaves

    def attribute(self, node: dict[str, Any], where: str) -> Attribute | None:
        scope, path = node.get("scope"), node.get("path")
        if scope not in ("computed", "trait") or not isinstance(path, str) or not path:
            self.error(where, "choose a profile attribute.")
            return None
        kind = field_type(scope, path)
        if not kind:
            what = "computed attribute" if scope == "computed" else "trait"
            self.error(where, f"there is no {what} {path[:200]!r} in the catalog.")
            return None
        comparison = self.comparison(node, kind, where, f"{path[:200]!r}")
        if comparison is None:
            return None
        return Attribute(scope=scope, path=path, comparison=comparison)

    def comparison(
        self, node: dict[str, Any], kind: str, where: str, name: str
    ) -> Comparison | None:
        if kind not in OPERATORS:
            self.error(where, f"{name} holds {kind} values; choose one of its fields instead.")
            return None
        operator = node.get("operator")
        allowed = [op for op, _ in OPERATORS[kind]]
        if not isinstance(operator, str) or operator not in allowed:
            self.error(where, f"{name} is a {kind}; its operators are {', '.join(allowed)}.")
            return None
        if operator in NO_VALUE:
            return Comparison(operator)
        try:
            if operator == "one_of":
                return Comparison(operator, tuple(_text_list(node.get("value"))))
            if operator in ("in_last_days", "more_than_days_ago"):
                days = _number(node.get("value"), integer=True, minimum=0, maximum=MAX_WINDOW_DAYS)
                return Comparison(operator, days)
            if kind == "number":
                value = _number(node.get("value"))
                if operator != "between":
                    return Comparison(operator, value)
                value2 = _number(node.get("value2"))
                if value2 < value:
                    raise ValueError("the second number of `between` must not be smaller.")
                return Comparison(operator, value, value2)
            if kind == "datetime":
                return Comparison(operator, _moment(node.get("value")))
            return Comparison(operator, _text(node.get("value")))
        except ValueError as error:
            self.error(where, f"{name}: {error}")
            return None

    def activity(self, selector: Any, where: str) -> ActivitySelector | None:
        if not isinstance(selector, dict) or not selector:
            self.error(where, "choose an activity.")
            return None
        role = selector.get("role")
        if role:
            if role not in CommerceRole.values or role == "":
                self.error(where, f"unknown commerce role {str(role)[:40]!r}.")
                return None
            return ActivityRole(role)
        kind, name = selector.get("kind"), selector.get("name", "")
        if kind not in Activity.Kind.values or not isinstance(name, str):
            self.error(where, "choose an activity.")
            return None
        if kind != Activity.Kind.TRACK:
            name = ""
        if not Activity.objects.filter(kind=kind, name=name).exists():
            self.error(where, f"there is no activity {name[:200]!r} in the catalog.")
            return None
        return ActivityName(kind, name)

    def events(
        self, node: dict[str, Any], where: str
    ) -> tuple[ActivitySelector, tuple[PropertyFilter, ...], tuple[int, ...]] | None:
        """What behaviour and lifecycle conditions share: activity, filters and sources."""
        activity = self.activity(node.get("activity"), where)
        if activity is None:
            return None
        filters = node.get("where", [])
        if not isinstance(filters, list):
            self.error(where, "`where` must be a list of property filters.")
            return None
        clean_filters = []
        for index, item in enumerate(filters, start=1):
            at = f"{where}, filter {index}"
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                self.error(at, "choose a property.")
                continue
            path = item["path"]
            if not path.strip():
                self.error(at, "choose a property.")
                continue
            try:
                path_parse(path)
            except ValueError as error:
                self.error(at, f"the property path: {error}")
                continue
            kind = property_type(activity, path)
            if not kind:
                self.error(at, f"the activity has no property {path[:200]!r} in the catalog.")
                continue
            comparison = self.comparison(item, kind, at, f"{path[:200]!r}")
            if comparison is not None:
                clean_filters.append(PropertyFilter(path, comparison))
        sources = node.get("sources", [])
        if not isinstance(sources, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in sources
        ):
            self.error(where, "`sources` must be a list of source ids.")
            return None
        sources = sorted(set(sources))
        if sources:
            known = set(Source.objects.filter(pk__in=sources).values_list("pk", flat=True))
            if missing := [s for s in sources if s not in known]:
                self.error(where, f"no source with id {missing[0]}.")
                return None
        return activity, tuple(clean_filters), tuple(sources)

    def window(self, window: Any, where: str, *, allow: tuple[str, ...]) -> Window | None:
        if not isinstance(window, dict) or window.get("type") not in allow:
            self.error(where, f"the time window must be one of: {', '.join(allow)}.")
            return None
        kind = window["type"]
        if kind == "ever":
            return EverWindow()
        if kind == "last":
            unit = window.get("unit")
            if not isinstance(unit, str) or not _one_of(unit, WINDOW_UNITS):
                self.error(where, "the window's unit is minutes, hours, days or weeks.")
                return None
            try:
                amount = _number(window.get("amount"), integer=True, minimum=1)
            except ValueError as error:
                self.error(where, f"the window: {error}")
                return None
            if amount * WINDOW_UNITS[unit] > MAX_WINDOW_DAYS:
                self.error(where, "the window is longer than 100 years.")
                return None
            return LastWindow(amount=int(amount), unit=unit)
        start, end = _day(window.get("start")), _day(window.get("end"))
        if start is None or end is None:
            self.error(where, "a window between two dates needs both dates (YYYY-MM-DD).")
            return None
        if end < start:
            self.error(where, "the window ends before it starts.")
            return None
        return BetweenWindow(start=start, end=end)

    def behaviour(self, node: dict[str, Any], where: str) -> Behaviour | None:
        events = self.events(node, where)
        window = self.window(node.get("window"), where, allow=("last", "between", "ever"))
        count = node.get("count", {"operator": "at_least", "value": 1})
        if not isinstance(count, dict) or not _one_of(count.get("operator"), COUNT_OPERATORS):
            self.error(where, "the count is at_least, at_most or exactly a number.")
            return None
        try:
            times = _number(count.get("value"), integer=True, minimum=0, maximum=MAX_COUNT)
        except ValueError as error:
            self.error(where, f"the count: {error}")
            return None
        if events is None or window is None:
            return None
        activity, filters, sources = events
        return Behaviour(
            activity=activity,
            count=EventCount(cast(CountOperator, count["operator"]), int(times)),
            window=window,
            where=filters,
            sources=sources,
        )

    def lifecycle(self, node: dict[str, Any], where: str) -> Lifecycle | None:
        change = node.get("change")
        if not _one_of(change, LIFECYCLE_CHANGES):
            self.error(where, "a lifecycle condition is `first_time` or `stopped`.")
            return None
        allow = ("last", "between") if change == "first_time" else ("last",)
        events = self.events(node, where)
        window = self.window(node.get("window"), where, allow=allow)
        if events is None or window is None:
            return None
        activity, filters, sources = events
        return Lifecycle(
            change=cast(LifecycleChange, change),
            activity=activity,
            window=window,
            where=filters,
            sources=sources,
        )

    def segment(self, node: dict[str, Any], where: str) -> SegmentRef | None:
        target = node.get("segment")
        if isinstance(target, str) and re.fullmatch(r"[0-9]{1,18}", target):
            target = int(target)
        if not isinstance(target, int) or isinstance(target, bool):
            self.error(where, "choose a segment.")
            return None
        if not Segment.objects.filter(pk=target).exists():
            self.error(where, f"there is no segment #{target}.")
            return None
        if self.segment_id is not None and _references(target, self.segment_id):
            self.error(where, "a segment cannot contain itself, directly or through others.")
            return None
        return SegmentRef(segment=target)

    def consent(self, node: dict[str, Any], where: str) -> Consent | None:
        channel, state = node.get("channel"), node.get("state")
        if not _one_of(channel, CONSENT_CHANNELS) or not _one_of(state, CONSENT_STATES):
            self.error(where, "consent needs a channel (email, sms) and a state.")
            return None
        return Consent(channel=cast(ConsentChannel, channel), state=cast(ConsentState, state))


def definition_parse(tree: Any, *, segment_id: int | None = None) -> Group:
    """The definition as typed values, checked against the catalog and normalised (values of
    the field's type, defaults filled, unknown keys dropped). Raises DefinitionError, with
    one message per problem."""
    tree = _without_nul(tree)
    if not isinstance(tree, dict) or tree.get("kind") != "group":
        raise DefinitionError(["A definition is a group of conditions."])
    checker = _Checker(segment_id=segment_id, errors=[])
    clean = checker.group(tree, "", 1)
    if checker.errors or clean is None:
        raise DefinitionError(checker.errors or ["The definition is not valid."])
    if not isinstance(tree.get("negate", False), bool):
        raise DefinitionError(["`negate` must be true or false."])
    return clean


def definition_clean(tree: Any, *, segment_id: int | None = None) -> dict[str, Any]:
    """The definition checked and normalised by `definition_parse`, in its stored shape."""
    return tree_to_json(definition_parse(tree, segment_id=segment_id))


def _without_nul(value: Any, depth: int = 0) -> Any:
    """The tree with NUL removed from its text (Postgres cannot store or compare it, and
    nobody means it). Refuses text that is not valid Unicode (lone surrogates) and trees
    nested past any group limit, before anything reads them."""
    if depth > MAX_DEPTH * 4:
        raise DefinitionError([f"Groups nest at most {MAX_DEPTH} deep."])
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise DefinitionError(
                [f"{value[:40]!r} holds characters that are not valid text."]
            ) from None
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {
            _without_nul(key, depth + 1): _without_nul(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_without_nul(item, depth + 1) for item in value]
    return value


def _one_of(value: Any, choices: Any) -> TypeGuard[str]:
    """Whether a value from the tree is one of a fixed set of names (a list or an object
    given instead is not, rather than an error)."""
    return isinstance(value, str) and value in choices


def referenced_segments(tree: dict[str, Any]) -> set[int]:
    """The segments a definition names directly."""
    found: set[int] = set()
    for node in walk(tree):
        if node.get("kind") == "segment" and isinstance(node.get("segment"), int):
            found.add(node["segment"])
    return found


def walk(tree: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a JSON tree not checked yet (a stored one), depth first."""
    yield tree
    if tree.get("kind") == "group":
        for child in tree.get("conditions", []):
            if isinstance(child, dict):
                yield from walk(child)


def _references(start: int, target: int) -> bool:
    """Whether segment `start` is `target` or reaches it through segment conditions."""
    seen: set[int] = set()
    todo = [start]
    while todo:
        current = todo.pop()
        if current == target:
            return True
        if current in seen:
            continue
        seen.add(current)
        definition = Segment.objects.filter(pk=current).values_list("definition", flat=True).first()
        if isinstance(definition, dict):
            todo.extend(referenced_segments(definition))
    return False


# --- values ----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        raise ValueError("enter a value.")
    if isinstance(value, int | float | Decimal):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("enter a text value.")
    value = value.replace("\x00", "")
    if not value.strip():
        # `contains ""` would hold everyone with a value: "is set" says that plainly.
        raise ValueError("enter a value (to find people with any value, use “is set”).")
    if len(value) > MAX_TEXT:
        raise ValueError(f"values are at most {MAX_TEXT} characters.")
    return str(value)


def _text_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list):
        raise ValueError("enter one or more values, separated by commas.")
    values = [_text(item) for item in value if item not in ("", None)]
    if not values:
        raise ValueError("enter one or more values, separated by commas.")
    if len(values) > MAX_LIST_VALUES:
        raise ValueError(f"at most {MAX_LIST_VALUES} values.")
    return list(dict.fromkeys(values))


def _number(
    value: Any,
    *,
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> int | float:
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError("enter a number.")
    if isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", "."))
        except InvalidOperation:
            raise ValueError(f"{value[:40]!r} is not a number.") from None
    elif isinstance(value, int | float | Decimal):
        number = Decimal(str(value))
    else:
        raise ValueError("enter a number.")
    if not number.is_finite() or abs(number) > Decimal("1e15"):
        raise ValueError("enter a finite number below 10^15.")
    if integer and number != number.to_integral_value():
        raise ValueError("enter a whole number.")
    if minimum is not None and number < minimum:
        raise ValueError(f"enter a number of at least {minimum}.")
    if maximum is not None and number > maximum:
        raise ValueError(f"enter a number of at most {maximum}.")
    if number == number.to_integral_value():
        return int(number)
    result = float(number)
    if not math.isfinite(result):
        raise ValueError("enter a finite number.")
    return result


# Dates a definition may name: far enough for any business, and never near the edges of what
# Python and Postgres can add a day to.
FIRST_YEAR, LAST_YEAR = 1900, 9000


def _day(value: Any) -> date | None:
    """A `YYYY-MM-DD` date within the years a definition may name, or None."""
    if not isinstance(value, str):
        return None
    try:
        day = parse_date(value.strip())
    except ValueError:
        return None
    return day if day and FIRST_YEAR <= day.year <= LAST_YEAR else None


def _moment(value: Any) -> str:
    """A date (`2026-11-25`) or a date-time, kept as ISO text."""
    if isinstance(value, datetime | date):
        value = value.isoformat()
    if not isinstance(value, str) or not value.strip():
        raise ValueError("enter a date (YYYY-MM-DD).")
    value = value.strip()
    try:
        moment = parse_date(value) or parse_datetime(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(f"{value[:40]!r} is not a date (YYYY-MM-DD) or date-time.")
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(f"enter a date between the years {FIRST_YEAR} and {LAST_YEAR}.")
    return str(value)
