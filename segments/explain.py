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
        met = Profile.objects.filter(pk=self.profile.pk).filter(Compiler(self.now).node(node))
        return Explained(
            node,
            met.exists(),
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
        if kind in ("behaviour", "lifecycle"):
            compiler = Compiler(self.now)
            events = compiler.event_filter(Event.objects.filter(profile=self.profile), node)
            summary = events.aggregate(n=Count("id"), first=Min("timestamp"), last=Max("timestamp"))
            if kind == "behaviour":
                start, end = compiler.window(node["window"])
                inside = compiler.within(events, start, end).count()
                text = f"{inside} matching event{'s' if inside != 1 else ''} in the window"
            else:
                text = f"{summary['n']} matching event{'s' if summary['n'] != 1 else ''} in all"
            if summary["first"]:
                text += f"; first {_shown(summary['first'])}, last {_shown(summary['last'])}"
            return text
        if kind == "consent":
            field = "email_consent" if node["channel"] == "email" else "sms_consent"
            state = getattr(self.profile, f"get_{field}_display")()
            return f"{CONSENT_CHANNELS[node['channel']]} consent: {state}"
        if kind == "segment":
            return "decided by that segment's own conditions, evaluated now"
        return ""


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
