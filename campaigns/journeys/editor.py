"""The journey editor's changes to a draft, and the draft as the editor draws it.

A draft is JSON (`Campaign.draft`, the shape docs/journeys.md shows) that may be half done:
these functions change it leniently and never judge it; `journey_problems` does that. Steps
are drawn top to bottom as runs (steps one after the other), a branching step ending its run
with one column per branch beside each other.

Changes:
- `step_add(draft, type, parent, branch)`: a new step after `parent` (on its branch number
  `branch`), or first of all when `parent` is empty; what followed there follows the new
  step (on its first branch, for a branching one). An exit ends a branch: it is added only
  where nothing follows.
- `step_remove(draft, id)`: what followed a plain step takes its place; a branching step is
  replaced by its first branch, and the steps of its other branches are removed with it.
- `step_move(draft, id, "up" | "down")`: swaps a plain step with the plain step before or
  after it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from campaigns.journeys.definition import STEP_TYPES, WEEKDAYS
from campaigns.journeys.words import subject_words
from campaigns.selectors import duration_words
from ingestion.models import CommerceRole
from segments.definition import CONSENT_CHANNELS, CONSENT_STATES, OPERATORS

BRANCHING = ("wait_for", "split", "random")
PREFIX = {
    "wait": "wait",
    "wait_for": "wait_for",
    "split": "if",
    "random": "ab",
    "send": "send",
    "update": "update",
    "exit": "exit",
}
# Every comparison once, in the words of the first type that has it ("equals", not "=").
ALL_OPERATORS: list[tuple[str, str]] = []
for _ops in OPERATORS.values():
    ALL_OPERATORS += [(op, words) for op, words in _ops if op not in dict(ALL_OPERATORS)]
OPERATOR_WORDS = dict(ALL_OPERATORS)


class EditError(ValueError):
    """A change the editor refuses, in the marketer's words."""


# --- reading the draft ------------------------------------------------------------------------


def steps_of(draft: Mapping[str, Any]) -> list[dict[str, Any]]:
    steps = draft.get("steps")
    return [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []


def step_find(draft: Mapping[str, Any], step_id: str) -> dict[str, Any] | None:
    return next((s for s in steps_of(draft) if s.get("id") == step_id), None)


def exit_keys(step: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, key) of each way out of a step as stored; a random split's keys are
    `branches.<n>`."""
    match step.get("type"):
        case "wait_for":
            return [("yes", "yes"), ("timed out", "timed_out")]
        case "split":
            return [("yes", "yes"), ("no", "no")]
        case "random":
            branches = step.get("branches") or []
            return [
                (
                    str(b.get("label") or f"{b.get('percent', 0)} %")
                    if isinstance(b, dict)
                    else "",
                    f"branches.{n}",
                )
                for n, b in enumerate(branches)
            ]
        case "exit":
            return []
    return [("", "next")]


def exit_get(step: Mapping[str, Any], key: str) -> str:
    if key.startswith("branches."):
        index = int(key.split(".")[1])
        branches = step.get("branches") or []
        if index < len(branches) and isinstance(branches[index], dict):
            return str(branches[index].get("next") or "")
        return ""
    return str(step.get(key) or "")


def exit_set(step: dict[str, Any], key: str, value: str) -> None:
    if key.startswith("branches."):
        step["branches"][int(key.split(".")[1])]["next"] = value
    else:
        step[key] = value


def parents(draft: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Each step's parent: step id -> (parent id, exit key); the start's parent is ("", "")."""
    found: dict[str, tuple[str, str]] = {}
    start = str(draft.get("start") or "")
    if start:
        found[start] = ("", "")
    for step in steps_of(draft):
        for _, key in exit_keys(step):
            nxt = exit_get(step, key)
            if nxt and nxt not in found:
                found[nxt] = (str(step.get("id")), key)
    return found


def new_step_id(draft: Mapping[str, Any], kind: str) -> str:
    """A short id, unique in the draft, kept for as long as the step exists."""
    taken = {str(s.get("id")) for s in steps_of(draft)}
    prefix = PREFIX.get(kind, "step")
    number = 1
    while f"{prefix}_{number}" in taken:
        number += 1
    return f"{prefix}_{number}"


def new_step(kind: str, step_id: str) -> dict[str, Any]:
    """A step of `kind` as the editor first adds it: what it needs filled in is left empty
    (the problems list says so) except where a sensible default exists."""
    match kind:
        case "wait":
            return {"id": step_id, "type": "wait", "seconds": 3600, "until": "", "weekdays": []}
        case "wait_for":
            return {
                "id": step_id,
                "type": "wait_for",
                "activity": {},
                "where": [],
                "match_keys": [],
                "timeout_seconds": 3600,
                "yes": "",
                "timed_out": "",
            }
        case "split":
            return {
                "id": step_id,
                "type": "split",
                "condition": {"kind": "group", "match": "all", "conditions": []},
                "did": None,
                "yes": "",
                "no": "",
            }
        case "random":
            return {
                "id": step_id,
                "type": "random",
                "branches": [
                    {"percent": 50, "next": "", "label": "A"},
                    {"percent": 50, "next": "", "label": "B"},
                ],
            }
        case "send":
            return {
                "id": step_id,
                "type": "send",
                "channel": "email",
                "transactional": False,
                "subject": "",
                "html": "",
                "text": "",
                "sender_name": "",
                "sender_email": "",
                "webhook_url": "",
                "items": "",
            }
        case "update":
            return {"id": step_id, "type": "update", "traits": {}, "note": ""}
        case "exit":
            return {"id": step_id, "type": "exit"}
    raise EditError("Choose the type of step to add.")


# --- changing the draft ----------------------------------------------------------------------


def step_add(
    draft: Mapping[str, Any], kind: str, parent: str = "", key: str = ""
) -> tuple[dict[str, Any], str]:
    """The draft with a new step of `kind` after `parent`'s exit `key` (first of all when
    `parent` is empty), and the new step's id."""
    if kind not in STEP_TYPES:
        raise EditError("Choose the type of step to add.")
    result = copy.deepcopy(dict(draft))
    steps = steps_of(result)
    result["steps"] = steps
    step_id = new_step_id(result, kind)
    step = new_step(kind, step_id)
    above: dict[str, Any] | None = None
    if parent:
        above = step_find(result, parent)
        if above is None:
            raise EditError("That step is no longer in the draft: reload the page.")
        keys = [k for _, k in exit_keys(above)]
        if key not in keys:
            raise EditError("That branch is no longer in the draft: reload the page.")
        following = exit_get(above, key)
    else:
        following = str(result.get("start") or "") if steps else ""
    if following:
        if kind == "exit":
            raise EditError(
                "An exit ends the journey: add it at the end of a branch, where nothing follows."
            )
        exit_set(step, exit_keys(step)[0][1], following)
    if above is not None:
        exit_set(above, key, step_id)
    else:
        result["start"] = step_id
    steps.append(step)
    return result, step_id


def _descendants(draft: Mapping[str, Any], step_id: str) -> list[str]:
    found: list[str] = []
    stack = [step_id]
    while stack:
        current = stack.pop()
        if not current or current in found:
            continue
        found.append(current)
        step = step_find(draft, current)
        if step is not None:
            stack.extend(exit_get(step, key) for _, key in exit_keys(step))
    return found


def step_remove(draft: Mapping[str, Any], step_id: str) -> tuple[dict[str, Any], str]:
    """The draft without the step, and what happened to the steps after it, in words."""
    result = copy.deepcopy(dict(draft))
    steps = steps_of(result)
    step = step_find(result, step_id)
    if step is None:
        raise EditError("That step is no longer in the draft: reload the page.")
    exits = exit_keys(step)
    kept = exit_get(step, exits[0][1]) if exits else ""
    removed: list[str] = []
    for _, key in exits[1:]:
        removed.extend(_descendants(result, exit_get(step, key)))
    gone = {step_id, *removed}
    parent_id, parent_key = parents(result).get(step_id, ("", ""))
    if parent_id:
        above = step_find(result, parent_id)
        if above is not None:
            exit_set(above, parent_key, kept)
    elif result.get("start") == step_id:
        result["start"] = kept
    result["steps"] = [s for s in steps if s.get("id") not in gone]
    if removed:
        label = exits[0][0]
        words = (
            f"The steps of its “{label}” branch now follow in its place; its other branches "
            f"were removed with it ({len(removed)} step{'s' if len(removed) != 1 else ''})."
        )
    elif kept:
        words = "The steps after it now follow the step before it."
    else:
        words = "Nothing followed it."
    return result, words


def step_move(draft: Mapping[str, Any], step_id: str, direction: str) -> dict[str, Any]:
    """Swap a plain step (one way on) with the plain step just before (`up`) or after
    (`down`) it."""
    result = copy.deepcopy(dict(draft))
    step = step_find(result, step_id)
    if step is None:
        raise EditError("That step is no longer in the draft: reload the page.")
    if direction == "up":
        upper_id = parents(result).get(step_id, ("", ""))[0]
        lower = step
    else:
        upper_id = step_id
        lower = step_find(result, str(step.get("next") or "")) or {}
    upper = step_find(result, upper_id) if upper_id else None
    plain = ("wait", "send", "update")
    if upper is None or not lower or upper.get("type") not in plain:
        raise EditError("Only a step in a straight run moves, past the step next to it.")
    if lower.get("type") not in plain or upper.get("next") != lower.get("id"):
        raise EditError("Only a step in a straight run moves, past the step next to it.")
    grand_id, grand_key = parents(result).get(str(upper["id"]), ("", ""))
    upper["next"], lower["next"] = lower.get("next", ""), upper["id"]
    if grand_id:
        grand = step_find(result, grand_id)
        assert grand is not None
        exit_set(grand, grand_key, str(lower["id"]))
    else:
        result["start"] = lower["id"]
    return result


def step_replace(draft: Mapping[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    """The draft with the step of the same id replaced (its ways on kept as they were)."""
    result = copy.deepcopy(dict(draft))
    steps = steps_of(result)
    for index, old in enumerate(steps):
        if old.get("id") == step["id"]:
            if step.get("type") == "random" and old.get("type") == "random":
                pass  # the form keeps each branch's next
            else:
                for _, key in exit_keys(old):
                    if key in ("next", "yes", "no", "timed_out"):
                        step[key] = old.get(key, "")
            steps[index] = step
            break
    else:
        raise EditError("That step is no longer in the draft: reload the page.")
    result["steps"] = steps
    return result


# --- words ----------------------------------------------------------------------------------


def activity_words(selector: Any) -> str:
    if not isinstance(selector, Mapping) or not selector:
        return "an activity (not chosen yet)"
    if selector.get("role"):
        role = str(selector["role"])
        label = CommerceRole(role).label if role in CommerceRole.values else role
        return f"any “{label}” activity"
    if selector.get("kind") == "track":
        return str(selector.get("name") or "an activity")
    return {"page": "a page view", "screen": "a screen view", "identify": "an identify"}.get(
        str(selector.get("kind")), str(selector.get("kind"))
    )


def filter_words(where: Any) -> str:
    if not isinstance(where, list) or not where:
        return ""
    parts = []
    for item in where:
        if not isinstance(item, Mapping):
            continue
        op = str(item.get("operator", ""))
        value = item.get("value", "")
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        words = f"{item.get('path', '')} {OPERATOR_WORDS.get(op, op)}"
        if value not in ("", None):
            words += f" {value}"
        if op == "between":
            words += f" and {item.get('value2', '')}"
        parts.append(words)
    return " where " + " and ".join(parts) if parts else ""


def condition_words(node: Any, segments: Mapping[int, str]) -> str:
    if not isinstance(node, Mapping):
        return "?"
    negate = "not " if node.get("negate") else ""
    match node.get("kind"):
        case "group":
            parts = [condition_words(c, segments) for c in node.get("conditions") or []]
            joiner = " or " if node.get("match") == "any" else " and "
            text = joiner.join(parts)
            return f"not ({text})" if negate and text else text
        case "consent":
            channel = CONSENT_CHANNELS.get(str(node.get("channel")), node.get("channel"))
            state = CONSENT_STATES.get(str(node.get("state")), node.get("state"))
            return f"{negate}{state} {channel}"
        case "segment":
            segment = node.get("segment")
            name = segments.get(int(segment), f"segment #{segment}") if segment else "?"
            return f"{negate}in “{name}”"
        case "attribute":
            op = str(node.get("operator", ""))
            value = node.get("value", "")
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            text = f"{node.get('path', '')} {OPERATOR_WORDS.get(op, op)}"
            if value not in ("", None):
                text += f" {value}"
            return negate + text
        case "behaviour":
            return f"{negate}did {activity_words(node.get('activity'))}"
    return str(node.get("kind"))


def step_words(step: Mapping[str, Any], segments: Mapping[int, str]) -> str:
    """What a step does, as its card says it."""
    match step.get("type"):
        case "wait":
            parts = []
            seconds = int(step.get("seconds") or 0)
            if seconds:
                parts.append(duration_words(seconds))
            if step.get("until"):
                parts.append(f"then until {step['until']}")
            days = [WEEKDAYS[d] for d in step.get("weekdays") or [] if isinstance(d, int) and d < 7]
            if days:
                parts.append("on " + ", ".join(days))
            return "Wait " + (" ".join(parts) if parts else "(how long is not set)")
        case "wait_for":
            keys = [str(k) for k in step.get("match_keys") or []]
            same = f" with the same {', '.join(keys)}" if keys else ""
            timeout = duration_words(int(step.get("timeout_seconds") or 0))
            return (
                f"Wait up to {timeout} for {activity_words(step.get('activity'))}"
                f"{filter_words(step.get('where'))}{same}"
            )
        case "split":
            parts = []
            condition = condition_words(step.get("condition"), segments)
            if condition:
                parts.append(condition)
            did = step.get("did")
            if isinstance(did, Mapping):
                parts.append(
                    f"did {activity_words(did.get('activity'))}{filter_words(did.get('where'))}"
                    " since entering"
                )
            return "If " + (" and ".join(parts) if parts else "… (no condition yet)")
        case "random":
            branches = step.get("branches") or []
            shares = ", ".join(
                f"{b.get('label') or '?'} {b.get('percent', 0)} %"
                for b in branches
                if isinstance(b, Mapping)
            )
            return f"Split at random: {shares}"
        case "send":
            kind = "transactional" if step.get("transactional") else "marketing"
            if step.get("channel") == "webhook":
                return f"Post a webhook to {step.get('webhook_url') or '(no address yet)'}"
            subject = subject_words(str(step.get("subject") or "")) if step.get("subject") else ""
            return f"Send the email “{subject or '(no subject yet)'}” ({kind})"
        case "update":
            traits = step.get("traits") or {}
            parts = (
                [f"set {k} to {v}" for k, v in traits.items()] if isinstance(traits, dict) else []
            )
            if step.get("note"):
                parts.append("add a note")
            return "Update the profile: " + (", ".join(parts) if parts else "(nothing yet)")
        case "exit":
            return "Exit the journey"
    return f"Unknown step {step.get('type')!r}"


def trigger_words(trigger: Any, segments: Mapping[int, str]) -> str:
    if not isinstance(trigger, Mapping):
        return "No trigger yet"
    match trigger.get("kind"):
        case "activity":
            text = (
                f"When someone does {activity_words(trigger.get('activity'))}"
                f"{filter_words(trigger.get('where'))}"
            )
            if trigger.get("entry_key"):
                text += f" (one entry per {trigger['entry_key']})"
            return text
        case "segment":
            segment = trigger.get("segment")
            name = segments.get(int(segment), f"segment #{segment}") if segment else "?"
            verb = "leaves" if trigger.get("on") == "exit" else "joins"
            return f"When someone {verb} “{name}”"
        case "date":
            yearly = " every year" if trigger.get("yearly") else ""
            return f"On the date in {trigger.get('trait') or '?'}{yearly}, at {trigger.get('at')}"
        case "broadcast":
            segment = trigger.get("segment")
            name = segments.get(int(segment), f"segment #{segment}") if segment else "?"
            when = f"at {trigger['start']}" if trigger.get("start") else "now"
            repeat = {"weekly": ", then every week", "monthly": ", then every month"}.get(
                str(trigger.get("repeat")), ""
            )
            return f"Everyone in “{name}”, {when}{repeat}"
    return "No trigger yet"


# --- the drawing -----------------------------------------------------------------------------


@dataclass
class BranchView:
    label: str
    key: str
    run: list[StepView] = field(default_factory=list)


@dataclass
class StepView:
    id: str
    type: str
    type_label: str
    words: str
    problems: list[str]
    can_add_after: bool
    can_move_up: bool = False
    can_move_down: bool = False
    branches: list[BranchView] = field(default_factory=list)


@dataclass
class Drawing:
    run: list[StepView]
    loose: list[StepView]  # steps no way leads to
    general: list[str]  # problems of the journey as a whole


def _mentions(problem: str, step_id: str) -> bool:
    return re.search(rf"“{re.escape(step_id)}”", problem) is not None


def drawing(draft: Mapping[str, Any], problems: list[str], segments: Mapping[int, str]) -> Drawing:
    """The draft as runs of cards with branches side by side, each card with its problems."""
    seen: set[str] = set()
    placed: set[int] = set()
    plain = ("wait", "send", "update")

    def view(step: Mapping[str, Any]) -> StepView:
        step_id = str(step.get("id"))
        mine = [n for n, p in enumerate(problems) if _mentions(p, step_id)]
        placed.update(mine)
        kind = str(step.get("type"))
        return StepView(
            id=step_id,
            type=kind,
            type_label=STEP_TYPES.get(kind, kind),
            words=step_words(step, segments),
            problems=[problems[n] for n in mine],
            can_add_after=kind not in BRANCHING and kind != "exit",
        )

    def run_from(step_id: str) -> list[StepView]:
        run: list[StepView] = []
        while step_id and step_id not in seen:
            step = step_find(draft, step_id)
            if step is None:
                break
            seen.add(step_id)
            card = view(step)
            if run and run[-1].type in plain and card.type in plain:
                run[-1].can_move_down = True
                card.can_move_up = True
            run.append(card)
            keys = exit_keys(step)
            if step.get("type") in BRANCHING:
                card.branches = [
                    BranchView(label or "?", key, run_from(exit_get(step, key)))
                    for label, key in keys
                ]
                break
            step_id = exit_get(step, keys[0][1]) if keys else ""
        return run

    run = run_from(str(draft.get("start") or ""))
    loose = [view(s) for s in steps_of(draft) if str(s.get("id")) not in seen]
    general = [p for n, p in enumerate(problems) if n not in placed]
    return Drawing(run=run, loose=loose, general=general)
