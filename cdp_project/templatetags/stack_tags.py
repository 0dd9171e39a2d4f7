"""The state of the stack's background parts, in plain words, for the live debugger."""

from __future__ import annotations

from dataclasses import dataclass

from django import template

from cdp_project import heartbeats
from cdp_project.health import unreadable_messages

register = template.Library()


@dataclass(frozen=True)
class StackState:
    ok: bool
    sentences: list[str]


@register.simple_tag
def stack_state() -> StackState:
    """Whether events are being processed: the worker, the scheduler, set-aside messages."""
    parts = heartbeats.stack_parts()
    worker, scheduler = parts[heartbeats.WORKER], parts[heartbeats.SCHEDULER]
    sentences = []
    if worker.ok and scheduler.ok:
        seen = [f"{label} {_seen(part)}" for label, part in
                (("the worker", worker), ("the scheduler", scheduler))]  # fmt: skip
        sentences.append(f"Processing is running: {seen[0]}, {seen[1]}.")
    if not worker.ok:
        sentences.append(
            f"{worker.reason[0].upper()}{worker.reason[1:]}: new events are stored and wait "
            "for it (nothing is lost)."
        )
    if not scheduler.ok:
        sentences.append(
            f"{scheduler.reason[0].upper()}{scheduler.reason[1:]}: timed work (campaign "
            "reminders, the catch-up of unprocessed events, segment refreshes) waits for it."
        )
    unreadable = unreadable_messages()
    if unreadable:
        sentences.append(
            f"{unreadable} broker message{'s' if unreadable != 1 else ''} could not be read "
            f"and {'were' if unreadable != 1 else 'was'} set aside (var/broker/unreadable/); "
            "the events behind them are picked up by the periodic catch-up."
        )
    return StackState(ok=worker.ok and scheduler.ok, sentences=sentences)


def _seen(part: heartbeats.PartState) -> str:
    if part.age is None:
        return "starting"
    return f"seen {int(part.age.total_seconds())} s ago"
