from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Source(models.Model):
    """A website, app or server that sends events, identified by its write keys."""

    class Kind(models.TextChoices):
        WEB = "web", "Web"
        MOBILE = "mobile", "Mobile"
        SERVER = "server", "Server"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SERVER)
    enabled = models.BooleanField(default=True)
    # Browser origins allowed to send with this source's keys ("https://shop.example").
    # Empty means any origin.
    allowed_origins = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def accepts_origin(self, origin: str | None) -> bool:
        if not origin or not self.allowed_origins:
            return True
        return origin.rstrip("/") in {o.rstrip("/") for o in self.allowed_origins}


def generate_write_key() -> str:
    return secrets.token_urlsafe(24)


class WriteKey(models.Model):
    """A key a source writes with. A source may hold several, so a key can be rotated:
    create a new one, move the senders over, then revoke the old one."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="write_keys")
    key = models.CharField(max_length=64, unique=True, default=generate_write_key)
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.source} · {self.key[:6]}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Event(models.Model):
    """One accepted message, as the Segment spec describes it, cleaned and with its times.

    Write-once, but for merges and deletes. Indexed for the debugger (one source's latest
    events, newest id first), one activity over a time window, and the sweep of
    unprocessed events. The `(source, message_id)` de-duplication key lives in
    `MessageKey`, so that this table can later be partitioned by time without losing it.
    """

    class Type(models.TextChoices):
        TRACK = "track"
        IDENTIFY = "identify"
        PAGE = "page"
        SCREEN = "screen"
        GROUP = "group"
        ALIAS = "alias"

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="events")
    message_id = models.CharField(max_length=128)
    type = models.CharField(max_length=10, choices=Type.choices)
    # The activity name: the track event, or the page / screen name.
    name = models.CharField(max_length=255, blank=True, default="")
    user_id = models.CharField(max_length=255, blank=True, default="")
    anonymous_id = models.CharField(max_length=255, blank=True, default="")
    # The event's time, corrected for client clock skew (see docs/ingest.md).
    timestamp = models.DateTimeField()
    # The client's own event time, as sent (`originalTimestamp` or `timestamp`).
    original_timestamp = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    traits = models.JSONField(default=dict, blank=True)
    context = models.JSONField(default=dict, blank=True)
    # Everything else the message carried (integrations, groupId, previousId, …).
    extra = models.JSONField(default=dict, blank=True)
    # What the cleaning rules changed: "timestamp_out_of_range", "nul_removed", …
    flags = models.JSONField(default=list, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["source", "-id"], name="event_source_latest"),
            models.Index(fields=["name", "timestamp"], name="event_name_time"),
            models.Index(fields=["user_id"], name="event_user_id", condition=~Q(user_id="")),
            models.Index(
                fields=["anonymous_id"], name="event_anonymous_id", condition=~Q(anonymous_id="")
            ),
            models.Index(
                fields=["received_at"],
                name="event_unprocessed",
                condition=Q(processed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.name or ''} {self.message_id}".strip()


class MessageKey(models.Model):
    """The de-duplication key: a `messageId` is stored once per source."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+")
    message_id = models.CharField(max_length=128)
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "message_id"], name="message_key_unique")
        ]

    def __str__(self) -> str:
        return self.message_id


class Refusal(models.Model):
    """An event or a request that was not accepted, and why: what the debugger shows."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="refusals")
    received_at = models.DateTimeField(default=timezone.now)
    # Position in the batch; null when the whole request was refused.
    index = models.PositiveIntegerField(null=True, blank=True)
    code = models.CharField(max_length=64)
    message = models.TextField()
    message_id = models.CharField(max_length=128, blank=True, default="")
    # The start of what was sent, for the debugger; never the whole of a huge payload.
    excerpt = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["source", "-id"], name="refusal_source_latest")]

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
