""" "Why is this person in or out?": each condition of a definition, met or not for one profile,
with the values that decided it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Min
from django.utils import timezone

from ingestion.catalog.paths import path_parse
from ingestion.models import Event
from profiles.models import Profile
from segments.compiler import Compiler
from segments.definition import (
    COMPUTED_ATTRIBUTES,
    CONSENT_CHANNELS,
    SentenceLabels,
    group_sentence,
    node_sentence,
)


@dataclass
class Explained:
    node: dict[str, Any]
    met: bool
    sentence: str
    detail: str = ""
    children: list[Explained] = field(default_factory=list)


def explain(tree: dict[str, Any], profile: Profile, *, now: datetime | None = None) -> Explained:
    """The definition's tree for one profile. Each leaf is decided by the compiler's own SQL
    for that condition alone, so the answer is the one a refresh would give."""
    return _Explainer(tree, profile, now or timezone.now()).node(tree, top=True)


class _Explainer:
    def __init__(self, tree: dict[str, Any], profile: Profile, now: datetime) -> None:
        self.profile = profile
        self.now = now
        self.labels = SentenceLabels(tree)

    def node(self, node: dict[str, Any], *, top: bool = False) -> Explained:
        if node.get("kind") == "group":
            children = [self.node(child) for child in node.get("conditions", [])]
            if not children:
                met = True
            elif node.get("match") == "any":
                met = any(child.met for child in children)
            else:
                met = all(child.met for child in children)
            if node.get("negate"):
                met = not met
            sentence = group_sentence(node, self.labels, top=top) or "everyone"
            how = "any" if node.get("match") == "any" else "all"
            detail = f"{sum(c.met for c in children)} of {len(children)} met; needs {how}"
            if node.get("negate"):
                detail += ", negated"
            return Explained(node, met, sentence, detail, children)
        matches = Profile.objects.filter(pk=self.profile.pk).filter(Compiler(self.now).node(node))
        return Explained(
            node,
            matches.exists(),
            node_sentence(node, self.labels).rstrip(","),
            self.detail(node),
        )

    def detail(self, node: dict[str, Any]) -> str:
        kind = node["kind"]
        if kind == "attribute":
            if node["scope"] == "computed":
                label = COMPUTED_ATTRIBUTES[node["path"]][0]
                return f"{label}: {_shown(_computed_value(self.profile, node['path']))}"
            return f"{node['path']}: {_shown(_trait_value(self.profile.traits, node['path']))}"
        if kind == "behaviour":
            return self.behaviour_detail(node)
        if kind == "lifecycle":
            return self.lifecycle_detail(node)
        if kind == "consent":
            field = "email_consent" if node["channel"] == "email" else "sms_consent"
            state = getattr(self.profile, f"get_{field}_display")()
            return f"{CONSENT_CHANNELS[node['channel']]} consent: {state}"
        if kind == "segment":
            return "decided by that segment's own conditions, evaluated now"
        return ""

    def behaviour_detail(self, node: dict[str, Any]) -> str:
        """How many matching events the window holds, with the first and last of them; when
        it holds none, the latest one outside it: "0 matching events in the last 7 days;
        the last one on 2026-10-20 01:28"."""
        compiler = Compiler(self.now)
        events = compiler.event_filter(Event.objects.filter(profile=self.profile), node)
        start, end = compiler.window(node["window"])
        inside = compiler.within(events, start, end).aggregate(
            n=Count("id"), first=Min("timestamp"), last=Max("timestamp")
        )
        text = f"{_events(inside['n'])} {_window_words(node['window'])}"
        if inside["n"] == 1:
            return f"{text}, on {_shown(inside['first'])}"
        if inside["n"]:
            first, last = _shown(inside["first"]), _shown(inside["last"])
            return f"{text}, the first on {first}, the last on {last}"
        latest = events.order_by("-timestamp").values_list("timestamp", flat=True).first()
        if latest is None:
            return (
                text
                if node["window"].get("type") == "ever"
                else f"{text}, and none at any other time"
            )
        return f"{text}; the last one on {_shown(latest)}"

    def lifecycle_detail(self, node: dict[str, Any]) -> str:
        """What decided a "first time" or "stopped" condition: when the person first did it
        (and whether that is in the window), or when they last did it (and whether they did
        it since the window started)."""
        compiler = Compiler(self.now)
        events = compiler.event_filter(Event.objects.filter(profile=self.profile), node)
        summary = events.aggregate(first=Min("timestamp"), last=Max("timestamp"))
        if summary["first"] is None:
            return "no matching events ever"
        window = node["window"]
        start, end = compiler.window(window)
        if node["change"] == "first_time":
            first = summary["first"]
            text = f"first on {_shown(first)}"
            if start is not None and first < start:
                return f"{text}, before {_window_start(window)}"
            if end is not None and first >= end:
                return f"{text}, after {window.get('end')}"
            return f"{text}, {_window_words(window)}"
        last = summary["last"]
        text = f"last on {_shown(last)}"
        if start is not None and last >= start:
            return f"{text}, {_window_words(window)}"
        previous = start - compiler.span(window) if start is not None else None
        if previous is not None and last < previous:
            length = _window_words(window, bare=True)
            return f"{text}, not in the {length} before the last {length} either"
        return f"{text}, none since"


def _events(count: int) -> str:
    return f"{count:,} matching event{'' if count == 1 else 's'}"


def _window_words(window: dict[str, Any], *, bare: bool = False) -> str:
    """ "in the last 7 days" ("7 days" when `bare`), "between 2026-11-01 and 2026-11-20",
    "ever"."""
    if window.get("type") == "last":
        amount, unit = window.get("amount"), str(window.get("unit", "days"))
        length = unit[:-1] if amount == 1 else f"{amount} {unit}"
        return length if bare else f"in the last {length}"
    if window.get("type") == "between":
        return f"between {window.get('start')} and {window.get('end')}"
    return "ever"


def _window_start(window: dict[str, Any]) -> str:
    if window.get("type") == "last":
        return f"the last {_window_words(window, bare=True)}"
    return str(window.get("start"))


def _computed_value(profile: Profile, name: str) -> Any:
    if name in ("preferred_categories", "preferred_brands"):
        key = "categories" if name == "preferred_categories" else "brands"
        weights = (profile.preferences or {}).get(key) or {}
        return ", ".join(sorted(weights, key=lambda k: -weights[k])[:5]) or None
    return getattr(profile, name)


def _trait_value(traits: Any, path: str) -> Any:
    """The values at a path, arrays walked: one value, or a list of them."""
    values = [traits]
    for step in path_parse(path):
        found: list[Any] = []
        for value in values:
            if step is None:
                if isinstance(value, list):
                    found.extend(value)
            elif isinstance(value, dict) and step in value:
                found.append(value[step])
        values = found
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "no value"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    text = str(value)
    return text if len(text) <= 120 else text[:120] + "…"
