"""Heartbeats of the scheduler (beat) and the worker, and what they say about the stack.

Beat records `scheduler` from its own process on its tick (cdp_project/beat.py); the worker
records `worker` when it runs the periodic `heartbeat` task (cdp_project/tasks.py), which
beat sends every `HEARTBEAT_SECONDS`. A part is late when its heartbeat is older than twice
that period, or when it was never seen and this process has been up longer than that:
`/health/` and the live debugger then say so, with the reason.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from cdp_project.models import Heartbeat

SCHEDULER = "scheduler"
WORKER = "worker"

# Counted from this process's start: a part never seen is late only once the stack has had
# time to start it.
PROCESS_STARTED_AT = timezone.now()

_PARTS = {
    SCHEDULER: "the scheduler (Celery beat)",
    WORKER: "the worker",
}


def heartbeat_record(*, name: str, now: datetime | None = None) -> None:
    """Record that `name` is alive now: one upsert, no audit entry (it runs every few
    seconds and changes nothing a person did)."""
    Heartbeat.objects.bulk_create(
        [
            Heartbeat(
                name=name,
                seen_at=now or timezone.now(),
                seen_by=f"{socket.gethostname()} {os.getpid()}"[:200],
            )
        ],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["seen_at", "seen_by"],
    )


def heartbeat_period() -> timedelta:
    return timedelta(seconds=settings.HEARTBEAT_SECONDS)


@dataclass(frozen=True)
class PartState:
    name: str
    last_seen: datetime | None
    age: timedelta | None
    ok: bool
    reason: str  # empty when ok

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "age_seconds": round(self.age.total_seconds(), 1) if self.age is not None else None,
            "period_seconds": settings.HEARTBEAT_SECONDS,
        }


def stack_parts(*, now: datetime | None = None) -> dict[str, PartState]:
    """The scheduler's and the worker's state from their last heartbeats (one query)."""
    now = now or timezone.now()
    period = heartbeat_period()
    seen = dict(Heartbeat.objects.filter(name__in=_PARTS).values_list("name", "seen_at"))
    parts = {}
    # The scheduler first: the worker's heartbeat task is sent by it.
    for name, label in _PARTS.items():
        last_seen = seen.get(name)
        if last_seen is None:
            up_for = now - PROCESS_STARTED_AT
            ok = up_for <= 2 * period
            reason = "" if ok else f"{label} has not been seen since the stack started"
            parts[name] = PartState(name, None, None, ok, reason)
            continue
        age = max(now - last_seen, timedelta(0))
        ok = age <= 2 * period
        reason = "" if ok else f"{label} was last seen {_ago(age)} ago"
        if not ok and name == WORKER:
            if parts[SCHEDULER].ok:
                reason += " (stopped, or busy with long tasks)"
            else:
                reason += " (the scheduler sends its heartbeat task, and is down too)"
        parts[name] = PartState(name, last_seen, age, ok, reason)
    return parts


def _ago(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
