from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


def empty_definition() -> dict:
    return {"kind": "group", "match": "all", "negate": False, "conditions": []}


class Segment(models.Model):
    """A set of people described by a condition tree (docs/segments.md), materialised in
    `Membership` by a refresh."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    definition = models.JSONField(default=empty_definition)
    # The definition as a sentence, kept with it for lists and campaign pickers.
    sentence = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # The last refresh: when, how many members, how long it took, and what failed.
    size = models.IntegerField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    refresh_ms = models.IntegerField(null=True, blank=True)
    refresh_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("segment-detail", args=[self.pk])


class Membership(models.Model):
    """Who is in a segment now, and since when."""

    # Indexed by the constraint and the index below: no index of their own, so a refresh
    # that enters many people writes fewer.
    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    profile = models.ForeignKey(
        "profiles.Profile", on_delete=models.CASCADE, related_name="segment_memberships"
    )
    entered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "profile"], name="membership_unique")
        ]
        indexes = [
            models.Index(fields=["profile"], name="membership_profile"),
            # A segment's members, newest first.
            models.Index(fields=["segment", "-entered_at", "-id"], name="membership_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} in {self.segment_id}"


class MembershipChange(models.Model):
    """An entry into or an exit from a segment, as a refresh found it: what campaigns
    trigger on, and what a profile page shows."""

    class Kind(models.TextChoices):
        ENTERED = "entered", "Entered"
        EXITED = "exited", "Exited"

    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="changes", db_index=False
    )
    profile = models.ForeignKey(
        "profiles.Profile", on_delete=models.CASCADE, related_name="segment_changes", db_index=False
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["segment", "-at", "-id"], name="segment_change_latest"),
            models.Index(fields=["profile", "-at"], name="segment_change_profile"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} {self.kind} {self.segment_id} at {self.at:%Y-%m-%d %H:%M}"


class SizeSnapshot(models.Model):
    """A segment's size after a refresh, with the entries and exits it found."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="sizes")
    at = models.DateTimeField(default=timezone.now)
    size = models.IntegerField()
    entered = models.IntegerField(default=0)
    exited = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["segment", "-at"], name="segment_size_latest")]

    def __str__(self) -> str:
        return f"{self.segment_id} {self.size} at {self.at:%Y-%m-%d %H:%M}"
