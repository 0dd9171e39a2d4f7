"""A journey as typed values: its trigger, its steps as a graph, its exit rules and its goal.

A journey version stores its definition as JSON (`JourneyVersion.definition`, the shape
docs/journeys.md shows); the engine, the editor and the journey page read these frozen
dataclasses instead. `journey_parse` checks a JSON definition and returns a `Journey`, or
raises `JourneyError` with every problem in words a marketer reads; `journey_to_json` writes
one back.

Steps name the step that follows by id (`next`, or one per branch); an empty id ends the
journey there. A journey is a tree drawn top to bottom: no step is reached twice, so a person
runs each step at most once per entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Literal, TypeAlias

from segments.tree import (
    ActivityName,
    ActivitySelector,
    Group,
    PropertyFilter,
    TreeShapeError,
    activity_from_json,
    activity_to_json,
    comparison_from_json,
    comparison_to_json,
    tree_from_json,
    tree_segments,
    tree_to_json,
)

Channel: TypeAlias = Literal["email", "webhook"]
Items: TypeAlias = Literal["", "viewed", "cart", "order"]
Repeat: TypeAlias = Literal["none", "weekly", "monthly"]
STEP_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
MAX_STEPS = 60
MAX_WAIT_SECONDS = 366 * 86400
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class JourneyError(ValueError):
    """A definition that cannot run, with every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# --- triggers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityTrigger:
    """Enter on an activity, with the segment builder's property filters (array items
    included), from any source or the chosen ones."""

    activity: ActivitySelector
    where: tuple[PropertyFilter, ...] = ()
    sources: tuple[int, ...] = ()
    # An event property whose value keys the entry (`order_id`): one entry per value and
    # journey, whatever sent it and however often. Empty: no key.
    entry_key: str = ""


@dataclass(frozen=True)
class SegmentTrigger:
    """Enter on joining (`entry`) or leaving (`exit`) a saved segment."""

    segment: int
    on: Literal["entry", "exit"] = "entry"


@dataclass(frozen=True)
class DateTrigger:
    """Enter on the date a trait holds (`birthday` every year, `subscription_renews_at`
    once), at a time of day in the site's time zone."""

    trait: str
    at: time = time(9, 0)
    yearly: bool = False


@dataclass(frozen=True)
class BroadcastTrigger:
    """Everyone in a segment at send time: now (`start` empty), at `start`, or again every
    week or month from `start`."""

    segment: int
    start: datetime | None = None
    repeat: Repeat = "none"


Trigger: TypeAlias = ActivityTrigger | SegmentTrigger | DateTrigger | BroadcastTrigger


# --- steps -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wait:
    """Wait a duration, or until a time of day (and, if given, a day of the week) in the
    person's time zone, falling back to the site's."""

    id: str
    seconds: int = 0
    until: time | None = None
    weekdays: tuple[int, ...] = ()  # 0 = Monday; empty: any day
    next: str = ""


@dataclass(frozen=True)
class WaitFor:
    """Wait for an activity, matched on keys from the trigger event (`cart_id`), up to a
    timeout: `yes` when it comes, `timed_out` when it does not."""

    id: str
    activity: ActivitySelector
    timeout_seconds: int
    where: tuple[PropertyFilter, ...] = ()
    match_keys: tuple[str, ...] = ()
    yes: str = ""
    timed_out: str = ""


@dataclass(frozen=True)
class DidSince:
    """ "Did an activity since entering the journey": for a condition split."""

    activity: ActivitySelector
    where: tuple[PropertyFilter, ...] = ()


@dataclass(frozen=True)
class Split:
    """Yes or no on the segment builder's conditions (traits, computed attributes, segment
    membership, consent) and, if given, on an activity since entry: yes when all hold."""

    id: str
    condition: Group = field(default_factory=lambda: Group("all"))
    did: DidSince | None = None
    yes: str = ""
    no: str = ""


@dataclass(frozen=True)
class Branch:
    percent: int
    next: str = ""
    label: str = ""


@dataclass(frozen=True)
class RandomSplit:
    """Each person down one branch by chance, in the given shares (an A/B test)."""

    id: str
    branches: tuple[Branch, ...]


@dataclass(frozen=True)
class Send:
    """A message: email (Jinja templates, sandboxed) or a signed webhook, marketing or
    transactional. `items` says which products the message lists."""

    id: str
    channel: Channel = "email"
    transactional: bool = False
    subject: str = ""
    html: str = ""
    text: str = ""
    sender_name: str = ""
    sender_email: str = ""
    webhook_url: str = ""
    items: Items = ""
    next: str = ""


@dataclass(frozen=True)
class Update:
    """Set traits on the person and/or add a note to their profile."""

    id: str
    traits: tuple[tuple[str, str], ...] = ()
    note: str = ""
    next: str = ""


@dataclass(frozen=True)
class Exit:
    """Leave the journey here."""

    id: str


Step: TypeAlias = Wait | WaitFor | Split | RandomSplit | Send | Update | Exit
STEP_TYPES: dict[str, str] = {
    "wait": "Wait",
    "wait_for": "Wait for an activity",
    "split": "Condition split",
    "random": "Random split",
    "send": "Send",
    "update": "Update the profile",
    "exit": "Exit",
}


@dataclass(frozen=True)
class Goal:
    """What counts as converting: an activity within `days` of entry (its revenue, where
    it is an order, attributed to the journey)."""

    activity: ActivitySelector
    days: int = 3


@dataclass(frozen=True)
class Journey:
    trigger: Trigger
    steps: tuple[Step, ...]
    start: str
    exit_on: tuple[ActivitySelector, ...] = ()
    goal: Goal | None = None

    def step(self, step_id: str) -> Step | None:
        for step in self.steps:
            if step.id == step_id:
                return step
        return None

    def sends(self) -> list[Send]:
        return [step for step in self.steps if isinstance(step, Send)]

    def waits_for(self) -> list[WaitFor]:
        return [step for step in self.steps if isinstance(step, WaitFor)]


def step_type(step: Step) -> str:
    match step:
        case Wait():
            return "wait"
        case WaitFor():
            return "wait_for"
        case Split():
            return "split"
        case RandomSplit():
            return "random"
        case Send():
            return "send"
        case Update():
            return "update"
        case Exit():
            return "exit"


def step_exits(step: Step) -> list[tuple[str, str]]:
    """The ways out of a step: (branch label, next step id), in the order they are drawn."""
    match step:
        case Wait(next=nxt) | Send(next=nxt) | Update(next=nxt):
            return [("", nxt)]
        case WaitFor(yes=yes, timed_out=timed_out):
            return [("yes", yes), ("timed out", timed_out)]
        case Split(yes=yes, no=no):
            return [("yes", yes), ("no", no)]
        case RandomSplit(branches=branches):
            return [(b.label or f"{b.percent} %", b.next) for b in branches]
        case Exit():
            return []


def journey_segments(journey: Journey) -> set[int]:
    """The saved segments a journey runs on: its trigger's, a broadcast's, and those its
    condition splits name."""
    named: set[int] = set()
    if isinstance(journey.trigger, SegmentTrigger | BroadcastTrigger):
        named.add(journey.trigger.segment)
    for step in journey.steps:
        if isinstance(step, Split):
            named |= tree_segments(step.condition)
    return named


def journey_walk(journey: Journey) -> Iterator[tuple[int, str, Step]]:
    """The steps reachable from the start, depth first, each with its depth and the label
    of the branch it hangs from."""

    def visit(step_id: str, depth: int, label: str) -> Iterator[tuple[int, str, Step]]:
        step = journey.step(step_id)
        if step is None:
            return
        yield depth, label, step
        for branch, nxt in step_exits(step):
            yield from visit(nxt, depth + 1, branch)

    yield from visit(journey.start, 0, "")


# --- to JSON ---------------------------------------------------------------------------------


def _filters_json(where: tuple[PropertyFilter, ...]) -> list[dict[str, Any]]:
    return [{"path": f.path, **comparison_to_json(f.comparison)} for f in where]


def trigger_to_json(trigger: Trigger) -> dict[str, Any]:
    match trigger:
        case ActivityTrigger(activity=activity, where=where, sources=sources, entry_key=key):
            return {
                "kind": "activity",
                "activity": activity_to_json(activity),
                "where": _filters_json(where),
                "sources": list(sources),
                "entry_key": key,
            }
        case SegmentTrigger(segment=segment, on=on):
            return {"kind": "segment", "segment": segment, "on": on}
        case DateTrigger(trait=trait, at=at, yearly=yearly):
            return {"kind": "date", "trait": trait, "at": at.strftime("%H:%M"), "yearly": yearly}
        case BroadcastTrigger(segment=segment, start=start, repeat=repeat):
            return {
                "kind": "broadcast",
                "segment": segment,
                "start": start.isoformat() if start else "",
                "repeat": repeat,
            }


def step_to_json(step: Step) -> dict[str, Any]:
    found: dict[str, Any] = {"id": step.id, "type": step_type(step)}
    match step:
        case Wait(seconds=seconds, until=until, weekdays=weekdays, next=nxt):
            found |= {
                "seconds": seconds,
                "until": until.strftime("%H:%M") if until else "",
                "weekdays": list(weekdays),
                "next": nxt,
            }
        case WaitFor():
            found |= {
                "activity": activity_to_json(step.activity),
                "where": _filters_json(step.where),
                "match_keys": list(step.match_keys),
                "timeout_seconds": step.timeout_seconds,
                "yes": step.yes,
                "timed_out": step.timed_out,
            }
        case Split(condition=condition, did=did, yes=yes, no=no):
            found |= {
                "condition": tree_to_json(condition),
                "did": (
                    {"activity": activity_to_json(did.activity), "where": _filters_json(did.where)}
                    if did
                    else None
                ),
                "yes": yes,
                "no": no,
            }
        case RandomSplit(branches=branches):
            found["branches"] = [
                {"percent": b.percent, "next": b.next, "label": b.label} for b in branches
            ]
        case Send():
            found |= {
                "channel": step.channel,
                "transactional": step.transactional,
                "subject": step.subject,
                "html": step.html,
                "text": step.text,
                "sender_name": step.sender_name,
                "sender_email": step.sender_email,
                "webhook_url": step.webhook_url,
                "items": step.items,
                "next": step.next,
            }
        case Update(traits=traits, note=note, next=nxt):
            found |= {"traits": dict(traits), "note": note, "next": nxt}
        case Exit():
            pass
    return found


def journey_to_json(journey: Journey) -> dict[str, Any]:
    return {
        "trigger": trigger_to_json(journey.trigger),
        "start": journey.start,
        "steps": [step_to_json(step) for step in journey.steps],
        "exit_on": [activity_to_json(a) for a in journey.exit_on],
        "goal": (
            {"activity": activity_to_json(journey.goal.activity), "days": journey.goal.days}
            if journey.goal
            else None
        ),
    }


# --- from JSON, checked ----------------------------------------------------------------------


class _Reader:
    """Reads one definition, collecting every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def text(self, node: Mapping[str, Any], key: str, limit: int = 200_000) -> str:
        value = node.get(key, "")
        if value is None:
            return ""
        if not isinstance(value, str):
            self.problem(f"“{key}” must be text.")
            return ""
        return value.replace("\x00", "")[:limit]

    def number(self, node: Mapping[str, Any], key: str, label: str, *, low: int, high: int) -> int:
        value = node.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.problem(f"{label} must be a whole number.")
            return low
        try:
            number = int(float(value))
        except ValueError:
            self.problem(f"{label} must be a whole number.")
            return low
        if not low <= number <= high:
            self.problem(f"{label} must be between {low} and {high}.")
            return max(low, min(high, number))
        return number

    def clock(self, value: Any, label: str) -> time | None:
        if value in (None, ""):
            return None
        try:
            return time.fromisoformat(str(value))
        except ValueError:
            self.problem(f"{label} must be a time of day such as 09:00.")
            return None

    def activity(self, node: Any, label: str) -> ActivitySelector:
        if not isinstance(node, Mapping) or not (node.get("role") or node.get("kind")):
            self.problem(f"{label}: choose an activity.")
            return ActivityName("track", "")
        selector = activity_from_json(node)
        if isinstance(selector, ActivityName) and selector.kind == "track" and not selector.name:
            self.problem(f"{label}: choose an activity.")
        return selector

    def filters(self, items: Any, label: str) -> tuple[PropertyFilter, ...]:
        if items in (None, ""):
            return ()
        if not isinstance(items, list):
            self.problem(f"{label}: property filters must be a list.")
            return ()
        found = []
        for item in items:
            try:
                found.append(PropertyFilter(str(item["path"]), comparison_from_json(item)))
            except (KeyError, TypeError, ValueError):
                self.problem(f"{label}: a property filter needs a property and an operator.")
        return tuple(found)

    def trigger(self, node: Any) -> Trigger:
        if not isinstance(node, Mapping):
            self.problem("Choose a trigger: what makes a person enter the journey.")
            return ActivityTrigger(ActivityName("track", ""))
        kind = node.get("kind")
        if kind == "activity":
            sources = node.get("sources") or []
            return ActivityTrigger(
                activity=self.activity(node.get("activity"), "Trigger"),
                where=self.filters(node.get("where"), "Trigger"),
                sources=tuple(int(s) for s in sources if str(s).isdigit()),
                entry_key=self.text(node, "entry_key", 200).strip(),
            )
        if kind in ("segment", "broadcast"):
            segment = node.get("segment")
            if not str(segment or "").isdigit():
                self.problem("Trigger: choose a segment.")
                segment = 0
            if kind == "segment":
                return SegmentTrigger(
                    segment=int(segment or 0), on="exit" if node.get("on") == "exit" else "entry"
                )
            start = None
            if node.get("start"):
                try:
                    start = datetime.fromisoformat(str(node["start"]))
                except ValueError:
                    self.problem("Broadcast: the start must be a date and time.")
            repeat: Repeat = "none"
            match node.get("repeat") or "none":
                case "weekly":
                    repeat = "weekly"
                case "monthly":
                    repeat = "monthly"
                case "none":
                    pass
                case _:
                    self.problem("Broadcast: repeat weekly, monthly or not at all.")
            if repeat != "none" and start is None:
                self.problem("Broadcast: a recurring broadcast needs its first date.")
            return BroadcastTrigger(segment=int(segment or 0), start=start, repeat=repeat)
        if kind == "date":
            trait = self.text(node, "trait", 200).strip()
            if not trait:
                self.problem("Trigger: choose the trait that holds the date.")
            return DateTrigger(
                trait=trait,
                at=self.clock(node.get("at"), "Trigger: the time of day") or time(9, 0),
                yearly=bool(node.get("yearly")),
            )
        self.problem("Choose a trigger: what makes a person enter the journey.")
        return ActivityTrigger(ActivityName("track", ""))

    def step(self, node: Any, index: int) -> Step | None:
        if not isinstance(node, Mapping):
            self.problem(f"Step {index + 1} is not well formed.")
            return None
        step_id = str(node.get("id", ""))
        if not STEP_ID.match(step_id):
            self.problem(f"Step {index + 1} needs an id of letters, digits, - or _.")
            return None
        kind = node.get("type")
        name = f"Step “{step_id}”"
        nxt = str(node.get("next") or "")
        match kind:
            case "wait":
                until = self.clock(node.get("until"), f"{name}: the time of day")
                weekdays = tuple(
                    int(d) for d in node.get("weekdays") or [] if str(d).isdigit() and int(d) < 7
                )
                seconds = self.number(
                    node, "seconds", f"{name}: the wait", low=0, high=MAX_WAIT_SECONDS
                )
                if not seconds and until is None and not weekdays:
                    self.problem(f"{name}: wait a duration, or until a time of day.")
                return Wait(step_id, seconds=seconds, until=until, weekdays=weekdays, next=nxt)
            case "wait_for":
                timeout = self.number(
                    node, "timeout_seconds", f"{name}: the timeout", low=0, high=MAX_WAIT_SECONDS
                )
                if timeout <= 0:
                    self.problem(f"{name}: a wait for an activity needs a timeout.")
                keys = node.get("match_keys") or []
                return WaitFor(
                    step_id,
                    activity=self.activity(node.get("activity"), name),
                    timeout_seconds=timeout,
                    where=self.filters(node.get("where"), name),
                    match_keys=tuple(str(k).strip() for k in keys if str(k).strip())[:5],
                    yes=str(node.get("yes") or ""),
                    timed_out=str(node.get("timed_out") or ""),
                )
            case "split":
                condition = node.get("condition") or {"kind": "group", "match": "all"}
                try:
                    group = tree_from_json(condition)
                except TreeShapeError as error:
                    self.problem(f"{name}: {error}")
                    group = Group("all")
                did_node = node.get("did")
                did = None
                if did_node:
                    did = DidSince(
                        activity=self.activity(did_node.get("activity"), name),
                        where=self.filters(did_node.get("where"), name),
                    )
                if not group.conditions and did is None:
                    self.problem(f"{name}: a condition split needs a condition.")
                return Split(
                    step_id,
                    condition=group,
                    did=did,
                    yes=str(node.get("yes") or ""),
                    no=str(node.get("no") or ""),
                )
            case "random":
                branches = []
                for item in node.get("branches") or []:
                    if not isinstance(item, Mapping):
                        continue
                    percent = self.number(item, "percent", f"{name}: a share", low=0, high=100)
                    label = self.text(item, "label", 100)
                    branches.append(Branch(percent, str(item.get("next") or ""), label))
                if len(branches) < 2:
                    self.problem(f"{name}: a random split needs two branches or more.")
                elif sum(b.percent for b in branches) != 100:
                    self.problem(f"{name}: the shares must add up to 100 %.")
                return RandomSplit(step_id, branches=tuple(branches))
            case "send":
                channel: Channel = "webhook" if node.get("channel") == "webhook" else "email"
                send = Send(
                    step_id,
                    channel=channel,
                    transactional=bool(node.get("transactional")),
                    subject=self.text(node, "subject", 2000),
                    html=self.text(node, "html"),
                    text=self.text(node, "text"),
                    sender_name=self.text(node, "sender_name", 200),
                    sender_email=self.text(node, "sender_email", 320),
                    webhook_url=self.text(node, "webhook_url", 2000),
                    items=_items(node.get("items")),
                    next=nxt,
                )
                if channel == "email" and not send.subject.strip():
                    self.problem(f"{name}: the email needs a subject.")
                if channel == "email" and not (send.html.strip() or send.text.strip()):
                    self.problem(f"{name}: the email needs a body.")
                if channel == "webhook" and not send.webhook_url.startswith(
                    ("https://", "http://")
                ):
                    self.problem(f"{name}: the webhook needs an http(s) address.")
                return send
            case "update":
                traits_node = node.get("traits") or {}
                traits: tuple[tuple[str, str], ...] = ()
                if isinstance(traits_node, Mapping):
                    traits = tuple(
                        (str(k).strip()[:200], str(v)[:2000])
                        for k, v in traits_node.items()
                        if str(k).strip()
                    )
                note = self.text(node, "note", 5000)
                if not traits and not note.strip():
                    self.problem(f"{name}: set a trait or write a note.")
                return Update(step_id, traits=traits, note=note, next=nxt)
            case "exit":
                return Exit(step_id)
        self.problem(f"{name}: unknown step type {str(kind)[:40]!r}.")
        return None


def _items(value: Any) -> Items:
    match value:
        case "viewed":
            return "viewed"
        case "cart":
            return "cart"
        case "order":
            return "order"
    return ""


def journey_parse(definition: Any) -> Journey:
    """A JSON definition as a checked `Journey`; raises JourneyError listing every problem:
    unknown steps, a branch leading nowhere it should, a step reached twice (a cycle), a
    wait for an activity without a timeout, a split without branches, an email without a
    subject. Segments named are checked by the caller (`journey_problems`), which can see
    the database."""
    reader = _Reader()
    if not isinstance(definition, Mapping):
        raise JourneyError(["A journey definition must be an object."])
    trigger = reader.trigger(definition.get("trigger"))
    raw_steps = definition.get("steps") or []
    if not isinstance(raw_steps, list):
        raw_steps = []
    if len(raw_steps) > MAX_STEPS:
        reader.problem(f"A journey has at most {MAX_STEPS} steps.")
        raw_steps = raw_steps[:MAX_STEPS]
    steps: list[Step] = []
    seen: set[str] = set()
    for index, node in enumerate(raw_steps):
        read = reader.step(node, index)
        if read is None:
            continue
        step = read
        if step.id in seen:
            reader.problem(f"Two steps share the id “{step.id}”.")
            continue
        seen.add(step.id)
        steps.append(step)
    if not steps:
        reader.problem("Add a step: a journey needs at least one.")
    start = str(definition.get("start") or (steps[0].id if steps else ""))
    exit_on = tuple(reader.activity(item, "Exit rule") for item in definition.get("exit_on") or [])
    goal = None
    if (goal_node := definition.get("goal")) and isinstance(goal_node, Mapping):
        goal = Goal(
            activity=reader.activity(goal_node.get("activity"), "Goal"),
            days=reader.number(goal_node, "days", "Goal: the days", low=1, high=90),
        )
    journey = Journey(trigger=trigger, steps=tuple(steps), start=start, exit_on=exit_on, goal=goal)
    if steps:
        _check_graph(journey, reader)
    if reader.problems:
        raise JourneyError(reader.problems)
    return journey


def _check_graph(journey: Journey, reader: _Reader) -> None:
    ids = {step.id for step in journey.steps}
    if journey.start not in ids:
        reader.problem(f"The journey starts at “{journey.start}”, which is not a step.")
        return
    for step in journey.steps:
        for label, nxt in step_exits(step):
            if nxt and nxt not in ids:
                where = f" ({label})" if label else ""
                reader.problem(f"Step “{step.id}”{where} leads to “{nxt}”, which is not a step.")
    reached: dict[str, int] = {}
    stack = [journey.start]
    while stack:
        step_id = stack.pop()
        reached[step_id] = reached.get(step_id, 0) + 1
        if reached[step_id] > 1:
            continue
        found = journey.step(step_id)
        if found is not None:
            stack.extend(nxt for _, nxt in step_exits(found) if nxt in ids)
    for step_id, count in reached.items():
        if count > 1:
            reader.problem(
                f"Step “{step_id}” is reached twice: a journey runs top to bottom, "
                "without cycles or branches that meet again."
            )
    for step in journey.steps:
        if step.id not in reached:
            reader.problem(f"Step “{step.id}” cannot be reached from the start.")
