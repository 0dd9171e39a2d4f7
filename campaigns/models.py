"""Triggered campaigns: what a campaign is, who entered it, and every message it sent.

docs/campaigns.md gives the rules in the marketer's words. A matching event creates an
`Enrollment` with a due time; Celery beat picks up what is due, checks the rules again and
records a `Message` as claimed before any channel is called.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ingestion.models import CommerceRole


def generate_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class Campaign(models.Model):
    """A message sent when a person does something (the trigger) and, within the wait, does
    not do something else (the exit events)."""

    class Kind(models.TextChoices):
        ABANDONED_BROWSE = "abandoned_browse", "Abandoned browse"
        ABANDONED_CART = "abandoned_cart", "Abandoned cart"
        ORDER_CONFIRMATION = "order_confirmation", "Order confirmation"
        # A journey a marketer built: its trigger and steps are in its live version.
        JOURNEY = "journey", "Journey"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    class Reentry(models.TextChoices):
        # No new enrollment while one is waiting for the same person.
        WHILE_PENDING = "while_pending", "Again, but not while one is waiting"
        ONCE = "once", "Only once per person"
        # Every trigger enrolls (order confirmations: one per order id all the same).
        ALWAYS = "always", "Every time"
        # Again once `reentry_days` have passed since the person last entered.
        PER_DAYS = "per_days", "Once per a number of days"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # The built-ins' trigger, wait and exit rules; a journey's are in its version.
    trigger_role = models.CharField(
        max_length=32, choices=CommerceRole.choices, blank=True, default=""
    )
    wait_seconds = models.PositiveIntegerField(default=3600)
    # Commerce roles that take a waiting person out of the campaign.
    exit_roles = models.JSONField(default=list, blank=True)
    audience = models.ForeignKey(
        "segments.Segment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="campaigns",
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    webhook_url = models.URLField(max_length=2000, blank=True, default="")
    # The key the webhook's body is signed with (HMAC-SHA256).
    webhook_secret = models.CharField(max_length=100, default=generate_webhook_secret)
    sender_name = models.CharField(max_length=200, blank=True, default="")
    sender_email = models.EmailField(max_length=320, blank=True, default="")
    subject_template = models.TextField(blank=True, default="")
    html_template = models.TextField(blank=True, default="")
    text_template = models.TextField(blank=True, default="")
    # At most `cap_count` messages of this campaign per person per `cap_hours`; 0 = no cap.
    cap_count = models.PositiveIntegerField(default=1)
    cap_hours = models.PositiveIntegerField(default=24)
    reentry = models.CharField(
        max_length=16, choices=Reentry.choices, default=Reentry.WHILE_PENDING
    )
    reentry_days = models.PositiveSmallIntegerField(default=30)
    # A journey's live version (new entries take it) and the draft the editor changes.
    version = models.ForeignKey(
        "JourneyVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    draft = models.JSONField(default=dict, blank=True)
    # No marketing message between these local times (both empty: no quiet hours).
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    # Quiet hours in the person's time zone (their `timezone` trait) or the site's.
    quiet_in_profile_zone = models.BooleanField(default=True)
    # This share of enrollments is deliberately not sent, to measure lift.
    control_percent = models.PositiveSmallIntegerField(default=0)
    conversion_days = models.PositiveSmallIntegerField(default=3)
    # Transactional messages need no marketing consent and skip caps and quiet hours.
    transactional = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_marketing(self) -> bool:
        return not self.transactional

    @property
    def is_journey(self) -> bool:
        return self.kind == self.Kind.JOURNEY


class JourneyVersion(models.Model):
    """One published version of a journey: its definition (campaigns/journeys/definition.py)
    never changes once written. Editing a live journey publishes the next version; people in
    flight stay on the version they entered unless moved."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["campaign", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "number"], name="journey_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.campaign} v{self.number}"


class Enrollment(models.Model):
    """One person entering a campaign on one trigger event, and what became of it."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting"
        # A message was recorded and is being handed to the channel.
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        EXITED = "exited", "Exited"
        SUPPRESSED = "suppressed", "Not sent"
        FAILED = "failed", "Failed"
        CONTROL = "control", "Control group"
        # Went through every step of its path.
        COMPLETED = "completed", "Completed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="enrollments")
    # The journey version it entered (and runs); empty for the built-ins.
    version = models.ForeignKey(
        JourneyVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="enrollments",
        db_index=False,
    )
    # The step it is at: waiting there until `due_at`, or where it ended. Empty: at the start.
    node = models.CharField(max_length=40, blank=True, default="")
    # When it reached that step (a wait counts from here).
    step_at = models.DateTimeField(null=True, blank=True)
    profile = models.ForeignKey(
        "profiles.Profile", on_delete=models.CASCADE, related_name="campaign_enrollments"
    )
    # The trigger event; kept as a copy too (`trigger`), since events can be deleted.
    event = models.ForeignKey(
        "ingestion.Event",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    # {"name", "timestamp", "properties"} of the trigger event.
    trigger = models.JSONField(default=dict, blank=True)
    trigger_at = models.DateTimeField()
    # The order id for order-triggered campaigns: one enrollment per order id and campaign,
    # whichever source sent the order and however often. Empty otherwise.
    key = models.CharField(max_length=255, blank=True, default="")
    # The cart the trigger named (`cart_id`), when the site sends one.
    cart_id = models.CharField(max_length=255, blank=True, default="")
    # The person's entry in a campaign that takes each person once: at most one per campaign
    # and person (`enrollment_once_per_person`), so "once" holds whatever runs concurrently.
    # Set on the enrollments made under that rule, and on each person's first enrollment
    # when a campaign is switched to it (`campaigns.services.campaign_update`).
    once = models.BooleanField(default=False)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    # Why it exited, was not sent or failed, in words a marketer reads.
    reason = models.CharField(max_length=500, blank=True, default="")
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "key"], condition=~Q(key=""), name="enrollment_key_unique"
            ),
            models.UniqueConstraint(
                fields=["campaign", "profile"],
                condition=Q(once=True),
                name="enrollment_once_per_person",
            ),
        ]
        indexes = [
            # The due work beat picks up: holds only waiting enrollments.
            models.Index(fields=["due_at"], name="enrollment_due", condition=Q(state="pending")),
            models.Index(fields=["profile", "campaign"], name="enrollment_profile"),
            models.Index(fields=["campaign", "-created_at"], name="enrollment_campaign_log"),
            # Who waits at which step (the journey page's counts).
            models.Index(
                fields=["campaign", "node"],
                name="enrollment_waiting_at",
                condition=Q(state="pending"),
            ),
            # Who left at which step and why (the journey page's counts).
            models.Index(
                fields=["campaign", "version", "state", "node", "reason"],
                name="enrollment_left_at",
                condition=Q(state__in=["exited", "failed"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} · {self.profile_id} · {self.state}"


class Message(models.Model):
    """A message the app sent or tried to send, whatever the channel: the Outbox.

    Recorded as claimed before the channel is called, so a retried task never sends a second
    one; the idempotency key goes to the channel with it."""

    class Status(models.TextChoices):
        CLAIMED = "claimed", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    enrollment = models.ForeignKey(
        Enrollment,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="messages",
        db_index=False,
    )
    # The send step of the journey it came from: one message per enrollment and step.
    node = models.CharField(max_length=40, blank=True, default="")
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    # Deleting a person (data rights) deletes their messages: they hold the address and
    # content. Empty for a test send to an address.
    profile = models.ForeignKey(
        "profiles.Profile",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="campaign_messages",
        db_index=False,
    )
    # The person a test send was rendered for (its `profile` stays empty: it went to another
    # address). It holds their data, so their export includes it and their deletion deletes it.
    rendered_for = models.ForeignKey(
        "profiles.Profile",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="campaign_messages_rendered",
        db_index=False,
    )
    channel = models.CharField(max_length=10, choices=Campaign.Channel.choices)
    # An email address, or the webhook's URL.
    recipient = models.CharField(max_length=2000)
    sender = models.CharField(max_length=600, blank=True, default="")
    subject = models.TextField(blank=True, default="")
    html = models.TextField(blank=True, default="")
    text = models.TextField(blank=True, default="")
    headers = models.JSONField(default=dict, blank=True)
    # Marketing messages count towards caps; transactional ones do not.
    transactional = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CLAIMED)
    idempotency_key = models.CharField(max_length=64, unique=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    # When the channel is called next: the first try, a retry, or the end of a try's lease.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "node"],
                condition=Q(enrollment__isnull=False),
                name="message_once_per_step",
            )
        ]
        indexes = [
            # A profile's messages, newest first (the timeline; caps).
            models.Index(fields=["profile", "-created_at"], name="message_profile_latest"),
            # Messages waiting for the channel.
            models.Index(
                fields=["next_attempt_at"],
                name="message_due",
                condition=Q(status="claimed"),
            ),
            models.Index(fields=["-created_at", "-id"], name="message_outbox"),
            # The Outbox's search by recipient (an address or its start).
            models.Index(
                fields=["recipient"], name="message_recipient", opclasses=["varchar_pattern_ops"]
            ),
            # Test sends rendered for a person (export, deletion); few rows carry one.
            models.Index(
                fields=["rendered_for"],
                name="message_rendered_for",
                condition=Q(rendered_for__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject or self.channel} → {self.recipient}"


class StepRun(models.Model):
    """A step done for an enrollment, and how it went: the journey page's counts and the
    person's path. One per enrollment and step (a journey has no cycles), so a step a
    worker finished is never run again."""

    class Outcome(models.TextChoices):
        WAITED = "waited", "Waited"
        MATCHED = "matched", "The activity came"
        TIMED_OUT = "timed_out", "Timed out"
        YES = "yes", "Yes"
        NO = "no", "No"
        BRANCH = "branch", "Took a branch"
        SENT = "sent", "Message handed to the channel"
        SUPPRESSED = "suppressed", "Not sent"
        FAILED = "failed", "Failed"
        CONTROL = "control", "Control group"
        UPDATED = "updated", "Profile updated"
        EXITED = "exited", "Exited"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="steps")
    node = models.CharField(max_length=40)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    # The branch taken (its label), or why it was not sent.
    detail = models.CharField(max_length=500, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        constraints = [models.UniqueConstraint(fields=["enrollment", "node"], name="step_run_once")]
        indexes = [models.Index(fields=["campaign", "node", "outcome"], name="step_run_counts")]

    def __str__(self) -> str:
        return f"{self.enrollment_id} · {self.node} · {self.outcome}"


class EmailSuppression(models.Model):
    """An address the email provider reported: no more email to it when it bounced or the
    provider refused it, no more marketing when its owner marked a message as spam.

    Reported through the provider's tracking webhook (campaigns/bounces.py). Deleting the row
    (in Django admin) lifts it."""

    class Reason(models.TextChoices):
        BOUNCED = "bounced", "Bounced"
        REJECTED = "rejected", "Refused by the email provider"
        COMPLAINED = "complained", "Marked as spam"

    # Lower case, as profiles keep emails.
    address = models.CharField(max_length=320, unique=True)
    reason = models.CharField(max_length=12, choices=Reason.choices)
    esp = models.CharField("email provider", max_length=50, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.address} · {self.get_reason_display()}"

    @property
    def blocks_transactional(self) -> bool:
        """A complaint stops marketing; an address that bounces gets nothing at all."""
        return self.reason != self.Reason.COMPLAINED


class JourneyRun(models.Model):
    """One run of a broadcast, or of a date trigger on one day: everyone it selects enters
    once (the run's time is their entry key). The people are taken in chunks in profile-id
    order, each chunk its own transaction; `last_profile_id` is how far it got, so a run a
    killed worker left resumes where it stopped and nobody enters twice."""

    class Kind(models.TextChoices):
        BROADCAST = "broadcast", "Broadcast"
        DATE = "date", "Date in a trait"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(
        JourneyVersion, on_delete=models.PROTECT, related_name="runs", db_index=False
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The time it was scheduled for (a broadcast's occurrence, a date trigger's time of day).
    run_at = models.DateTimeField()
    # The segment a broadcast goes to, as it was when the run began.
    segment_id = models.BigIntegerField(null=True, blank=True)
    last_profile_id = models.BigIntegerField(default=0)
    # People entered, and those the audience or the re-entry rule kept out.
    enrolled = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    chunks = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    # The last chunk's commit: a run not finished whose last chunk is old is resumed.
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-run_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "run_at"], name="journey_run_once")
        ]
        indexes = [
            models.Index(
                fields=["updated_at"],
                name="journey_run_unfinished",
                condition=Q(finished_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign} · {self.kind} at {self.run_at:%Y-%m-%d %H:%M}"


class SegmentEntryCursor(models.Model):
    """How far a journey with a segment entry (or exit) trigger has read the segment's
    entries and exits (`segments.MembershipChange`, by id): the changes after it enroll."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    segment = models.ForeignKey("segments.Segment", on_delete=models.CASCADE, related_name="+")
    last_change_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "segment"], name="segment_entry_cursor_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign} · segment {self.segment_id} · {self.last_change_id}"
