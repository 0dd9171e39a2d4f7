"""Publishing a Celery task from a service or a view: by name, after commit, never failing
the caller, and skipping the broker for a while after it failed once.

Every task published this way has a fallback that does not need the message (beat's sweep
of unprocessed events, the scheduled segment refresh, the campaigns' tick), so a lost
publish only delays work. What must not happen is that a down broker fails a request, or
adds its connection timeout to every request: after one failure, this process skips the
broker for TASK_PUBLISH_BACKOFF.

Tasks are named, not imported: a service that publishes its own app's task would otherwise
import the tasks module that imports it (a cycle), and a lower app could not publish a
higher one's task at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

# The monotonic time before which this process does not try the broker.
_broker_skip_until = 0.0


def task_publish(name: str, *, args: Sequence[Any] = (), argsrepr: str | None = None) -> bool:
    """Publish the task `name` now; returns whether it was published. Never raises.

    `argsrepr` names the arguments in the worker's log where their repr would cost more than
    the publish (thousands of event ids)."""
    global _broker_skip_until
    if time.monotonic() < _broker_skip_until:
        return False
    try:
        current_app.send_task(name, args=list(args), retry=False, argsrepr=argsrepr)
    except Exception as exc:  # any broker failure: the task's fallback takes over
        _broker_skip_until = time.monotonic() + settings.TASK_PUBLISH_BACKOFF.total_seconds()
        logger.warning("task_publish_failed task=%s error=%s: %s", name, type(exc).__name__, exc)
        return False
    return True


def task_publish_on_commit(
    name: str, *, args: Sequence[Any] = (), argsrepr: str | None = None
) -> None:
    """Publish the task `name` once the current transaction commits (at once outside one):
    a worker never looks for rows that are not committed yet, nor for rows rolled back."""
    transaction.on_commit(lambda: task_publish(name, args=args, argsrepr=argsrepr))


def broker_skipped() -> bool:
    """Whether this process is skipping the broker after a failed publish."""
    return time.monotonic() < _broker_skip_until


def broker_backoff_reset() -> None:
    """Try the broker again on the next publish (tests, or once an operator fixed it)."""
    global _broker_skip_until
    _broker_skip_until = 0.0
