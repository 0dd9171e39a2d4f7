from __future__ import annotations

from django.db import models

# The analytics' saved funnels live with the analytics, in this app's tables and migrations.
from cdp_project.analytics.models import SavedFunnel

__all__ = ["Heartbeat", "SavedFunnel"]


class Heartbeat(models.Model):
    """When a long-running part of the stack last showed it was alive: one row per part.

    `scheduler` is written by beat itself on its tick, `worker` by the periodic `heartbeat`
    task when a worker runs it, so a dead beat and a dead (or stuck) worker are told apart.
    """

    name = models.CharField(primary_key=True, max_length=40)
    seen_at = models.DateTimeField()
    # Which process wrote it last ("hostname pid"), to tell two schedulers apart.
    seen_by = models.CharField(max_length=200, blank=True)

    class Meta:
        db_table = "cdp_heartbeat"

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
