"""Celery beat's scheduler with a heartbeat: beat records `scheduler` from its own process.

A beat that dies (SIGKILL, the OOM killer) sends nothing more, and nothing else would
notice: the heartbeat the tick writes goes stale and `/health/` says so
(cdp_project/heartbeats.py).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import django
from celery.beat import PersistentScheduler
from django.apps import apps
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)


class HeartbeatScheduler(PersistentScheduler):
    """`PersistentScheduler` (the schedule file under var/) that records its heartbeat on
    its tick, at most every half heartbeat period, and ticks at least that often."""

    _last_recorded = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        every = settings.HEARTBEAT_SECONDS / 2
        if time.monotonic() - self._last_recorded >= every:
            self._record()
        return min(super().tick(*args, **kwargs), every)

    def _record(self) -> None:
        if not apps.ready:  # beat started on its own has not loaded the apps yet
            django.setup()
        # After the setup above: the heartbeats module imports models.
        from cdp_project.heartbeats import SCHEDULER, heartbeat_record

        # A connection broken by a database restart is dropped and opened again; a database
        # that is away must not stop beat: the heartbeat goes stale, which is the truth.
        close_old_connections()
        try:
            heartbeat_record(name=SCHEDULER)
        except Exception as exc:
            logger.warning("beat_heartbeat_failed error=%s", f"{type(exc).__name__}: {exc}")
            close_old_connections()
            return
        self._last_recorded = time.monotonic()
