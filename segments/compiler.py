"""The segment compiler: a clean definition (segments/definition.py) to one query over profiles.

Profile attributes are column references from a fixed map, or JSON values read with `#>` and
the path as a parameter. Behaviour is an `EXISTS` (or a count) over the profile's events; the
filters of one condition that go through the same array are tested on the same item, with
`EXISTS` over `jsonb_array_elements`. Every cast is guarded by the value's JSON type, so a
drifted value is "no value", never an error (docs/segments.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    F,
    Field,
    OuterRef,
    Q,
    QuerySet,
    TextField,
)
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ingestion.catalog.paths import path_parse
from ingestion.models import Activity, Event
from profiles.models import Profile
from segments.definition import (
    COMPUTED_ATTRIBUTES,
    OPERATORS,
    WINDOW_UNITS,
    DefinitionError,
    definition_clean,
    field_type,
    property_type,
)
from segments.sql import Fixed, SqlExpr, json_at

# A number inside a JSON string that counts as a number ("12", "-3.5").
NUMERIC_TEXT = r"^[ \t\r\n]*[-+]?[0-9]+(\.[0-9]+)?[ \t\r\n]*$"
# The start of an ISO date; the cast itself is `cdp_try_timestamptz` (NULL when invalid).
ISO_DATE_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"

_CONSENT_FIELDS = {"email": "email_consent", "sms": "sms_consent"}
_CONSENT_STATES = {"granted": "granted", "withdrawn": "withdrawn", "unknown": ""}
_PREFERENCE_KEYS = {"preferred_categories": "categories", "preferred_brands": "brands"}
# A condition that holds for everyone and negates to no one (`~Q()` would be everyone too).
EVERYONE = Q(pk__isnull=False)


class Compiler:
    """Compiles one definition. `now` is read once, so every window of a query agrees."""

    def __init__(self, now: datetime | None = None, _seen: frozenset[int] = frozenset()) -> None:
        self.now = now or timezone.now()
        self.seen = _seen
        self.items = 0  # names array-item aliases: cdp_item1, cdp_item2, …
        # Field types read from the catalog, once per compile.
        self.types: dict[tuple, str] = {}

    def type_of(self, key: tuple, read: Any) -> str:
        if key not in self.types:
            self.types[key] = read()
        return self.types[key]

    def property_type(self, selector: dict[str, Any], path: str) -> str:
        key = ("property", tuple(sorted(selector.items())), path)
        return self.type_of(key, lambda: property_type(selector, path))

    # --- the tree

    def node(self, node: dict[str, Any]) -> Q:
        kind = node["kind"]
        q = self.group(node) if kind == "group" else getattr(self, kind)(node)
        return ~q if node.get("negate") else q

    def group(self, node: dict[str, Any]) -> Q:
        children = [self.node(child) for child in node.get("conditions", [])]
        if not children:
            # An empty group holds everyone; an empty "any" group too (nothing narrows it).
            return EVERYONE
        combined = children[0]
        for child in children[1:]:
            combined = combined & child if node.get("match") == "all" else combined | child
        return combined

    # --- profile attributes

    def attribute(self, node: dict[str, Any]) -> Q:
        path = node["path"]
        if node["scope"] == "computed":
            kind = COMPUTED_ATTRIBUTES[path][1]
            if kind == "list":
                return Q(self.preferences(_PREFERENCE_KEYS[path], node))
            return Q(compare(column_scalar(path, kind), kind, node, self.now))
        steps = path_parse(path)
        kind = self.type_of(("trait", path), lambda: field_type("trait", path))
        return Q(self.json_condition(F("traits"), [(steps, node, kind)]))

    def preferences(self, key: str, node: dict[str, Any]) -> SqlExpr:
        """ "Likes": the categories or brands in the profile's weighted preferences."""
        keys = (
            "SELECT 1 FROM jsonb_object_keys(CASE WHEN jsonb_typeof({0}) = 'object' "
            "THEN {0} END) AS cdp_key(k)"
        )
        weights = json_at(F("preferences"), [key])
        operator = node["operator"]
        if operator == "one_of":
            wanted = [str(value) for value in node["value"]]
            wanted_keys = "lower(k) = ANY(ARRAY(SELECT lower(x) FROM unnest(%s::text[]) AS x))"
            return SqlExpr(f"EXISTS ({keys} WHERE {wanted_keys})", [weights], [wanted])
        found = SqlExpr(f"EXISTS ({keys})", [weights])
        return found if operator == "is_set" else SqlExpr("NOT {0}", [found])

    def json_condition(self, base: Any, filters: list[tuple[list, dict, str]]) -> SqlExpr:
        """All of `filters` (path steps, comparison, type) on one JSON value; filters through
        the same array test the same item of it."""
        direct: list[SqlExpr] = []
        arrays: dict[tuple, list[tuple[list, dict, str]]] = {}
        for steps, comparison, kind in filters:
            if None in steps:
                at = steps.index(None)
                arrays.setdefault(tuple(steps[:at]), []).append((steps[at + 1 :], comparison, kind))
            else:
                scalar = json_scalar(json_at(base, steps), kind)
                direct.append(compare(scalar, kind, comparison, self.now))
        for prefix, inner in arrays.items():
            if len(inner) == 1 and inner[0][1]["operator"] == "is_not_set":
                # Alone on its array, "is not set" means no item has a value (an empty list
                # too), not "some item has none".
                rest, comparison, kind = inner[0]
                is_set = {**comparison, "operator": "is_set"}
                found = self.json_condition(base, [([*prefix, None, *rest], is_set, kind)])
                direct.append(SqlExpr("NOT {0}", [found]))
                continue
            self.items += 1
            alias = f"cdp_item{self.items}"
            item = Fixed(f"{alias}.value")
            condition = self.json_condition(item, inner)
            array = json_at(base, list(prefix))
            # The alias is this compiler's own counter, never input.
            template = (
                "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof({0}) = "
                "'array' THEN {0} END) AS %(alias)s(value) WHERE {1})"
            ).replace("%(alias)s", alias)
            direct.append(SqlExpr(template, [array, condition]))
        if len(direct) == 1:
            return direct[0]
        template = " AND ".join(f"{{{i}}}" for i in range(len(direct)))
        return SqlExpr(f"({template})", direct)

    # --- behaviour

    def events(self, node: dict[str, Any]) -> QuerySet[Event]:
        """The events a behaviour or lifecycle condition counts, with no window, for the
        profile of the outer query."""
        events = Event.objects.filter(profile_id=OuterRef("pk"))
        return self.event_filter(events, node)

    def event_filter(self, events: QuerySet[Event], node: dict[str, Any]) -> QuerySet[Event]:
        selector = node["activity"]
        if selector.get("role"):
            activities = list(
                Activity.objects.filter(role=selector["role"]).values_list("kind", "name")
            )
        else:
            activities = [(selector["kind"], selector["name"])]
        tracks = [name for kind, name in activities if kind == Activity.Kind.TRACK]
        which = Q(pk__in=[])
        if tracks:
            which |= Q(type=Event.Type.TRACK, name__in=tracks)
        for kind in (Activity.Kind.PAGE, Activity.Kind.SCREEN):
            if any(k == kind for k, _ in activities):
                which |= Q(type=kind)
        events = events.filter(which)
        if node.get("sources"):
            events = events.filter(source_id__in=node["sources"])
        if node.get("where"):
            filters = [
                (path_parse(f["path"]), f, self.property_type(selector, f["path"]))
                for f in node["where"]
            ]
            events = events.filter(self.json_condition(F("properties"), filters))
        return events

    def window(self, window: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
        """The window as [start, end): None for an open end."""
        if window["type"] == "last":
            return self.now - self.span(window), None
        if window["type"] == "between":
            return day_start(window["start"]), day_start(window["end"]) + timedelta(days=1)
        return None, None

    @staticmethod
    def span(window: dict[str, Any]) -> timedelta:
        return timedelta(days=window["amount"] * WINDOW_UNITS[window["unit"]])

    @staticmethod
    def within(events: QuerySet[Event], start: datetime | None, end: datetime | None):
        if start is not None:
            events = events.filter(timestamp__gte=start)
        if end is not None:
            events = events.filter(timestamp__lt=end)
        return events

    def behaviour(self, node: dict[str, Any]) -> Q:
        events = self.within(self.events(node), *self.window(node["window"]))
        operator, value = node["count"]["operator"], node["count"]["value"]
        if operator == "at_least" and value <= 1:
            return Q(Exists(events)) if value == 1 else EVERYONE
        if operator in ("at_most", "exactly") and value == 0:
            return ~Q(Exists(events))
        # People by their number of matching events: one grouped pass over the events (an
        # activity in a window is what `event_name_time` serves), not a count per profile.
        counted = (
            self.within(
                self.event_filter(Event.objects.filter(profile_id__isnull=False), node),
                *self.window(node["window"]),
            )
            .order_by()
            .values("profile_id")
            .annotate(matching=Count("id"))
        )
        if operator == "at_least":
            return Q(pk__in=counted.filter(matching__gte=value).values("profile_id"))
        if operator == "exactly":
            return Q(pk__in=counted.filter(matching=value).values("profile_id"))
        return ~Q(pk__in=counted.filter(matching__gt=value).values("profile_id"))

    def lifecycle(self, node: dict[str, Any]) -> Q:
        events = self.events(node)
        start, end = self.window(node["window"])
        if node["change"] == "first_time":
            return Q(Exists(self.within(events, start, end))) & ~Q(
                Exists(events.filter(timestamp__lt=start))
            )
        assert start is not None  # a "stopped" condition's window is the last N days
        previous = start - self.span(node["window"])
        return Q(Exists(self.within(events, previous, start))) & ~Q(
            Exists(events.filter(timestamp__gte=start))
        )

    # --- the rest

    def segment(self, node: dict[str, Any]) -> Q:
        from segments.models import Segment

        target = node["segment"]
        if target in self.seen:
            raise DefinitionError(["A segment cannot contain itself."])
        found = Segment.objects.filter(pk=target).values_list("name", "definition").first()
        if found is None:
            # A deleted segment holds no one.
            return Q(pk__in=[])
        name, stored = found
        # Checked again: the catalog may have changed since that segment was saved.
        try:
            definition = definition_clean(stored, segment_id=target)
        except DefinitionError as error:
            raise DefinitionError([f"In segment {name!r}: {e}" for e in error.errors]) from None
        inner = Compiler(self.now, self.seen | {target})
        inner.items = self.items + 100
        q = inner.node(definition)
        self.items = inner.items
        return q

    def consent(self, node: dict[str, Any]) -> Q:
        field = _CONSENT_FIELDS[node["channel"]]
        return Q((field, _CONSENT_STATES[node["state"]]))


# --- scalars and comparisons -----------------------------------------------------------------

_OUTPUT: dict[str, Callable[[], Field[Any, Any]]] = {
    "string": TextField,
    "number": lambda: DecimalField(max_digits=30, decimal_places=10),
    "boolean": BooleanField,
    "datetime": DateTimeField,
}


def column_scalar(name: str, kind: str) -> Any:
    """A profile column from the fixed map; empty text counts as no value."""
    if name not in COMPUTED_ATTRIBUTES:  # never a name from outside the map
        raise DefinitionError([f"Unknown computed attribute {name!r}."])
    if kind == "string":
        return SqlExpr("NULLIF({0}, '')", [F(name)], output_field=TextField())
    return F(name)


def json_scalar(value: Any, kind: str) -> SqlExpr:
    """A JSON value as SQL of the field's type, or NULL when it holds another JSON type."""
    if kind == "string":
        template = "CASE WHEN jsonb_typeof({0}) IN ('string', 'number') THEN {0} #>> '{}' END"
        return SqlExpr(template, [value], output_field=TextField())
    if kind == "number":
        template = (
            "CASE WHEN jsonb_typeof({0}) = 'number' THEN ({0} #>> '{}')::numeric "
            "WHEN jsonb_typeof({0}) = 'string' AND ({0} #>> '{}') ~ %s "
            "THEN ({0} #>> '{}')::numeric END"
        )
        return SqlExpr(template, [value], [NUMERIC_TEXT], output_field=_OUTPUT["number"]())
    if kind == "boolean":
        template = "CASE WHEN jsonb_typeof({0}) = 'boolean' THEN ({0} #>> '{}')::boolean END"
        return SqlExpr(template, [value], output_field=BooleanField())
    template = (
        "CASE WHEN jsonb_typeof({0}) = 'string' AND ({0} #>> '{}') ~ %s "
        "THEN cdp_try_timestamptz({0} #>> '{}', %s) END"
    )
    zone = timezone.get_current_timezone_name()
    return SqlExpr(template, [value], [ISO_DATE_TEXT, zone], output_field=DateTimeField())


def compare(scalar: Any, kind: str, node: dict[str, Any], now: datetime) -> SqlExpr:
    """The comparison of a scalar (SQL of the field's type, NULL for no value) as a boolean
    that is never NULL, so that negating it keeps the people with no value."""
    operator = node["operator"]
    value: Any = node.get("value")
    sql: str
    params: list[Any]
    if operator not in {op for op, _ in OPERATORS.get(kind, [])}:
        # A definition saved before the field's type changed: checked on save, and again
        # before every compile, so this only guards against a tree that skipped the check.
        raise DefinitionError([f"No operator {operator!r} for {kind} values."])
    if operator == "is_set":
        sql, params = "{0} IS NOT NULL", []
    elif operator == "is_not_set":
        sql, params = "{0} IS NULL", []
    elif operator == "is_true":
        sql, params = "{0} IS TRUE", []
    elif operator == "is_false":
        sql, params = "{0} IS FALSE", []
    elif kind == "string":
        text = str(value) if not isinstance(value, list) else ""
        by_operator: dict[str, tuple[str, list[Any]]] = {
            "equals": ("lower({0}) = lower(%s)", [text]),
            "not_equals": ("lower({0}) <> lower(%s)", [text]),
            "contains": ("strpos(lower({0}), lower(%s)) > 0", [text]),
            "starts_with": ("starts_with(lower({0}), lower(%s))", [text]),
            "ends_with": ("right(lower({0}), char_length(%s)) = lower(%s)", [text, text]),
            # Lower-cased by Postgres on both sides: Python and Postgres disagree on some
            # letters ("İ").
            "one_of": (
                "lower({0}) = ANY(ARRAY(SELECT lower(x) FROM unnest(%s::text[]) AS x))",
                [[str(v) for v in value or []]],
            ),
        }
        sql, params = by_operator[operator]
    elif kind == "number":
        try:
            number = Decimal(str(value))
            second = Decimal(str(node.get("value2", value)))
        except InvalidOperation:
            raise DefinitionError([f"{str(value)[:40]!r} is not a number."]) from None
        if operator == "between":
            sql, params = "{0} BETWEEN %s AND %s", [number, second]
        else:
            symbol = {
                "equals": "=",
                "not_equals": "<>",
                "gt": ">",
                "gte": ">=",
                "lt": "<",
                "lte": "<=",
            }[operator]
            sql, params = f"{{0}} {symbol} %s", [number]
    elif kind == "datetime":
        if operator == "in_last_days":
            sql, params = "{0} >= %s AND {0} <= %s", [now - timedelta(days=value), now]
        elif operator == "more_than_days_ago":
            sql, params = "{0} < %s", [now - timedelta(days=value)]
        else:
            moment, whole_day = as_moment(value)
            if operator == "before":
                sql, params = "{0} < %s", [moment]
            else:
                sql, params = "{0} >= %s", [moment + timedelta(days=1) if whole_day else moment]
                if not whole_day:
                    sql = "{0} > %s"
    else:
        raise DefinitionError([f"No operator {operator!r} for {kind} values."])
    return SqlExpr(f"COALESCE(({sql}), false)", [scalar], params)


def day_start(day: str) -> datetime:
    """Midnight at the start of a day, in the site's time zone."""
    parsed = parse_date(day)
    if parsed is None:
        raise DefinitionError([f"{day!r} is not a date."])
    return timezone.make_aware(datetime.combine(parsed, time.min))


def as_moment(value: str) -> tuple[datetime, bool]:
    """A date (the start of that day, site time) or a date-time; and whether it was a date."""
    if parse_date(value):
        return day_start(value), True
    moment = parse_datetime(value.replace("Z", "+00:00"))
    if moment is None:
        raise DefinitionError([f"{value!r} is not a date."])
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment, False


# --- entry points ----------------------------------------------------------------------------


def segment_q(tree: dict[str, Any], *, now: datetime | None = None) -> Q:
    """The filter on profiles for a clean definition."""
    return Compiler(now).node(tree)


def segment_profiles(tree: dict[str, Any], *, now: datetime | None = None) -> QuerySet[Profile]:
    return Profile.objects.filter(segment_q(tree, now=now))


def segment_count(tree: dict[str, Any], *, now: datetime | None = None) -> int:
    return segment_profiles(tree, now=now).order_by().count()


def segment_sql(tree: dict[str, Any], *, now: datetime | None = None) -> tuple[str, list[Any]]:
    """`SELECT id FROM profiles WHERE …` with its parameters, for set-based refreshes."""
    query = segment_profiles(tree, now=now).order_by().values("pk").query
    sql, params = query.get_compiler(connection=connection).as_sql()
    return sql, list(params)
