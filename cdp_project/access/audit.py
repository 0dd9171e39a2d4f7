"""The audit log: who changed what. Every action writes its own entry, in its own transaction.

An action is a function that changes what a marketer, a command or a task may change
(sources, keys, segments, campaigns, the catalog, consent, profiles). It is declared with
`@action`: it runs in one durable transaction (`transaction.atomic(durable=True)`, so it
never runs inside someone else's transaction, where its entry could outlive a rollback
of the caller's or commit before it) and calls `audit_write` once inside, so there is no
change without its entry and no entry for a change that rolled back. `ACTIONS` lists every
action, for the test that walks them.

An import is the one exception, declared with `@batched_action`: a file of any size is
stored a chunk at a time, each chunk its own transaction, so that no import holds rows
locked for long; its entry is written last, in a durable transaction of its own, with what
the import did.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection
from typing import Any, ParamSpec, TypeVar

from django.db import models, transaction

from cdp_project.access.actors import Actor
from cdp_project.access.models import AuditEntry

P = ParamSpec("P")
R = TypeVar("R")

# "module.function" -> the action, filled as the modules declaring actions are imported.
ACTIONS: dict[str, Callable[..., Any]] = {}


def action(func: Callable[P, R]) -> Callable[P, R]:
    """Declare `func` an action: run it in its own durable transaction, and list it."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with transaction.atomic(durable=True):
            return func(*args, **kwargs)

    ACTIONS[f"{func.__module__}.{func.__qualname__}"] = run
    return run


def batched_action(func: Callable[P, R]) -> Callable[P, R]:
    """Declare `func` an action that commits its work in chunks and calls `audit_write`
    last, in `transaction.atomic(durable=True)`; list it with the others."""
    ACTIONS[f"{func.__module__}.{func.__qualname__}"] = func
    return func


def audit_write(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: object = "",
    summary: str = "",
) -> AuditEntry:
    """Record `action` by `actor` on `obj` (or the type and id given), in the caller's
    transaction: an action calls it once, inside."""
    if obj is not None:
        object_type = object_type or obj._meta.model_name or ""
        object_id = object_id or obj.pk
    return AuditEntry.objects.create(
        actor=actor.user if actor.user is not None and actor.user.pk else None,
        actor_name=actor.name[:150],
        system_actor=actor.system_name[:100],
        action=action,
        object_type=object_type,
        object_id=str(object_id or "")[:64],
        summary=summary[:300],
        ip=actor.ip,
    )


def audit_summaries_scrub(*, values: Collection[str], mask: str = "•••") -> int:
    """Take a deleted person's values (their ids, email, name, phone) out of the audit log's
    summaries, leaving the entries: who did what, when, to which object id stays, the
    person's values become `mask`. Returns how many entries changed."""
    values = sorted({value for value in values if value}, key=len, reverse=True)
    if not values:
        return 0
    pattern = re.compile("|".join(re.escape(value) for value in values), re.IGNORECASE)
    condition = models.Q()
    for value in values:
        condition |= models.Q(summary__icontains=value)
    changed = []
    for entry in AuditEntry.objects.filter(condition).only("id", "summary"):
        entry.summary = pattern.sub(mask, entry.summary)
        changed.append(entry)
    AuditEntry.objects.bulk_update(changed, ["summary"])
    return len(changed)
