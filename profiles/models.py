from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Profile(models.Model):
    """One person, stitched from every id their events carried."""

    created_at = models.DateTimeField(default=timezone.now)
    # The person's known user id (the first one linked); empty while anonymous.
    user_id = models.CharField(max_length=255, blank=True, default="")
    # Lower-cased, from the email identity: what the profile search looks up.
    email = models.CharField(max_length=320, blank=True, default="")
    # Identify traits, each with the event time it was set at (`trait_times`), so that a
    # late-arriving older identify does not overwrite a newer value.
    traits = models.JSONField(default=dict, blank=True)
    trait_times = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user_id"], name="profile_user_id", condition=~Q(user_id="")),
            models.Index(fields=["email"], name="profile_email", condition=~Q(email="")),
        ]

    def __str__(self) -> str:
        return self.email or self.user_id or f"Anonymous #{self.pk}"


class Identity(models.Model):
    """An id that points to one profile: an anonymous id, a user id, an email, or an id of
    another namespace a source sends."""

    class Namespace(models.TextChoices):
        ANONYMOUS_ID = "anonymous_id", "Anonymous id"
        USER_ID = "user_id", "User id"
        EMAIL = "email", "Email"

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="identities")
    namespace = models.CharField(max_length=64)
    value = models.CharField(max_length=320)
    first_seen = models.DateTimeField(default=timezone.now)
    # The message that linked the id to the profile.
    message_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(fields=["namespace", "value"], name="identity_unique")
        ]
        indexes = [models.Index(fields=["profile"], name="identity_profile")]

    def __str__(self) -> str:
        return f"{self.namespace}:{self.value}"


class ProfileMerge(models.Model):
    """A record that two profiles were found to be one person: which ids, when, why."""

    survivor = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="merges")
    merged_profile_id = models.BigIntegerField()
    # The ids the merged profile held, as [namespace, value] pairs.
    identities = models.JSONField(default=list)
    # The id that joined them, and the message that carried it.
    linked_by = models.JSONField(default=list)
    message_id = models.CharField(max_length=128, blank=True, default="")
    reason = models.CharField(max_length=20)
    merged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-merged_at"]

    def __str__(self) -> str:
        return f"#{self.merged_profile_id} → #{self.survivor_id}"
