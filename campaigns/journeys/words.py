"""A journey's trigger and steps in a marketer's words, for the journey page and a person's
journeys: "Wait 1 hour", "Wait up to 1 hour for Order Completed (same cart_id)", "Send
email “You left something behind”"."""

from __future__ import annotations

import re

from campaigns.journeys.definition import (
    STEP_TYPES,
    WEEKDAYS,
    ActivityTrigger,
    BroadcastTrigger,
    DateTrigger,
    Exit,
    RandomSplit,
    SegmentTrigger,
    Send,
    Split,
    Step,
    Trigger,
    Update,
    Wait,
    WaitFor,
    step_type,
)
from campaigns.selectors import duration_words
from ingestion.models import CommerceRole
from segments.sentence import definition_sentence, filters_text
from segments.tree import ActivityName, ActivityRole, ActivitySelector, PropertyFilter


def activity_words(selector: ActivitySelector) -> str:
    match selector:
        case ActivityRole(role=role):
            return CommerceRole(role).label if role in CommerceRole.values else role
        case ActivityName(kind=kind, name=name):
            return name if kind == "track" else f"{kind} viewed"


def _filters_words(where: tuple[PropertyFilter, ...]) -> str:
    clauses = filters_text(where)
    return f" {clauses}" if clauses else ""


def trigger_words(trigger: Trigger, segment_names: dict[int, str]) -> str:
    """What lets people in, as a sentence ending without a full stop."""

    def segment(pk: int) -> str:
        return f"“{segment_names[pk]}”" if pk in segment_names else f"segment #{pk} (deleted)"

    match trigger:
        case ActivityTrigger(activity=activity, where=where, entry_key=key):
            once = f", once per {key}" if key else ""
            return f"When a person does “{activity_words(activity)}”{_filters_words(where)}{once}"
        case SegmentTrigger(segment=pk, on=on):
            verb = "joins" if on == "entry" else "leaves"
            return f"When a person {verb} {segment(pk)}"
        case DateTrigger(trait=trait, at=at, yearly=yearly):
            every = "every year on" if yearly else "on"
            return f"{every.capitalize()} the date in “{trait}”, at {at:%H:%M}"
        case BroadcastTrigger(segment=pk, start=start, repeat=repeat):
            when = f"at {start:%Y-%m-%d %H:%M}" if start else "now"
            again = "" if repeat == "none" else f", then {repeat}"
            return f"Everyone in {segment(pk)}, {when}{again}"


def step_words(step: Step) -> str:
    """One step in a line: what it does."""
    match step:
        case Wait(seconds=seconds, until=until, weekdays=weekdays):
            parts = [f"Wait {duration_words(seconds)}"] if seconds else ["Wait"]
            if until is not None:
                parts.append(f"until {until:%H:%M}")
            if weekdays:
                parts.append("on " + ", ".join(WEEKDAYS[d] for d in weekdays))
            return " ".join(parts)
        case WaitFor(activity=activity, timeout_seconds=timeout, match_keys=keys, where=where):
            same = f" with the same {', '.join(keys)}" if keys else ""
            return (
                f"Wait up to {duration_words(timeout)} for “{activity_words(activity)}”"
                f"{_filters_words(where)}{same}"
            )
        case Split(condition=condition, did=did):
            parts = []
            if condition.conditions:
                parts.append(definition_sentence(condition))
            if did is not None:
                parts.append(f"did “{activity_words(did.activity)}” since entering")
            return "If: " + "; and ".join(parts)
        case RandomSplit(branches=branches):
            return "Random split: " + ", ".join(
                f"{b.label or 'branch'} {b.percent} %" for b in branches
            )
        case Send(channel=channel, subject=subject, transactional=transactional):
            kind = "transactional" if transactional else "marketing"
            what = f"email “{subject_words(subject)}”" if channel == "email" else "webhook"
            return f"Send {what} ({kind})"
        case Update(traits=traits, note=note):
            parts = [f"set {name} = {value}" for name, value in traits]
            if note.strip():
                parts.append("add a note")
            return "Update the profile: " + ", ".join(parts)
        case Exit():
            return "Exit"


def subject_words(subject: str) -> str:
    """An email's subject as a marketer reads it in a sentence: its template parts shown as
    "…" ("You left {{ cart.count }} items" reads "You left … items")."""
    plain = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "…", subject)
    return " ".join(plain.split()) or "(no subject)"


def step_short(step: Step | None) -> str:
    """A step named briefly, for "then: …": the email's subject, "exit", "the end"."""
    match step:
        case None:
            return "the end of the journey"
        case Send(channel="email", subject=subject):
            return f"email “{subject_words(subject)}”"
        case Send():
            return "webhook"
        case Exit():
            return "exit"
    return f"{STEP_TYPES[step_type(step)].lower()} “{step.id}”"
