from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """One change made by a person in the marketer UI, or by a command, a task or the demo
    setup (a system actor): who, when, what, from where.

    Written by the action that makes the change, in its transaction (`audit.audit_write`),
    so there is no change without its entry and no entry for a change that rolled back.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The user may be deleted later; their name stays on the entry.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_name = models.CharField(max_length=150, blank=True)
    # Set when no user acted: what did ("command:import_profiles", "demo", "anonymous").
    system_actor = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=50, db_index=True)
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=64, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or '?'} {self.action} {self.summary}"


class SharedCounter(models.Model):
    """A count every web process shares (failed logins, events per write key), used when
    no Redis cache is configured: `cdp_project.core.counters` reads and writes it in SQL.

    The table is UNLOGGED (its migration creates it so): no write-ahead log per count, and a
    crash of Postgres empties it, which a limit can afford."""

    name = models.TextField(primary_key=True)
    value = models.BigIntegerField()
    # Seconds since the epoch, on the clock of the process that counted.
    expires_at = models.FloatField()

    class Meta:
        db_table = "shared_counter"

    def __str__(self) -> str:
        return f"{self.name}: {self.value}"
