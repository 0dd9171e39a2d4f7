from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Consent(models.TextChoices):
    UNKNOWN = "", "Not given"
    GRANTED = "granted", "Opted in"
    WITHDRAWN = "withdrawn", "Opted out"


class Profile(models.Model):
    """One person, stitched from every id their events carried.

    Besides ids and traits it holds the computed attributes (docs/profiles.md): kept fresh by
    the ingest processor as events arrive, and by Celery beat for the ones that depend on
    time or on other customers (RFM, engagement decay). `computed_at` says how fresh they are.
    """

    created_at = models.DateTimeField(default=timezone.now)
    # The person's known user id (the first one linked); empty while anonymous.
    user_id = models.CharField(max_length=255, blank=True, default="")
    # Lower-cased, from the email identity: what the profile search looks up.
    email = models.CharField(max_length=320, blank=True, default="")
    # From the `name` trait, or `first_name` and `last_name`.
    name = models.CharField(max_length=255, blank=True, default="")
    # Identify traits, each with the event time it was set at (`trait_times`), so that a
    # late-arriving older identify does not overwrite a newer value.
    traits = models.JSONField(default=dict, blank=True)
    trait_times = models.JSONField(default=dict, blank=True)

    # Consent, per channel: the state, when it was given or withdrawn, and how.
    email_consent = models.CharField(
        max_length=10, choices=Consent.choices, blank=True, default=Consent.UNKNOWN
    )
    email_consent_at = models.DateTimeField(null=True, blank=True)
    sms_consent = models.CharField(
        max_length=10, choices=Consent.choices, blank=True, default=Consent.UNKNOWN
    )
    sms_consent_at = models.DateTimeField(null=True, blank=True)

    # Computed attributes. Event times are skew-corrected event times, not arrival times.
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    event_count = models.IntegerField(default=0)
    orders_count = models.IntegerField(default=0)
    # Lifetime value in the site's currency, net of refunds and cancellations.
    # Wide enough for every order's amount (below ingestion.amounts.ORDER_AMOUNT_LIMIT),
    # converted at any rate and summed over a person's orders.
    revenue = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    average_order_value = models.DecimalField(max_digits=24, decimal_places=2, null=True)
    last_order_at = models.DateTimeField(null=True, blank=True)
    # RFM quintiles (1 to 5 each), recomputed on a schedule over all customers with orders.
    rfm_recency = models.SmallIntegerField(null=True, blank=True)
    rfm_frequency = models.SmallIntegerField(null=True, blank=True)
    rfm_monetary = models.SmallIntegerField(null=True, blank=True)
    rfm_score = models.CharField(max_length=3, blank=True, default="")
    rfm_at = models.DateTimeField(null=True, blank=True)
    # {"categories": {"Shoes": 4.0, …}, "brands": {…}}: weighted counts of viewed and bought
    # items, the top ones kept.
    preferences = models.JSONField(default=dict, blank=True)
    # [{"key": product key, "at": ISO time}, …], newest first.
    last_viewed = models.JSONField(default=list, blank=True)
    # Points per activity, halved every ENGAGEMENT_HALF_LIFE_DAYS; `engagement_at` is the
    # time the score was decayed to. `engagement_weeks` holds the raw points of recent weeks
    # ({"2026-11-16": 12.0}), for the trend.
    engagement_score = models.FloatField(default=0)
    engagement_at = models.DateTimeField(null=True, blank=True)
    engagement_weeks = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user_id"], name="profile_user_id", condition=~Q(user_id="")),
            # Profile search by the start of an email: a pattern_ops index serves
            # `LIKE 'prefix%'` in any collation (core Postgres, no pg_trgm).
            models.Index(
                fields=["email"],
                opclasses=["varchar_pattern_ops"],
                name="profile_email",
                condition=~Q(email=""),
            ),
            # Search by the start of any word of the name ("hop" finds Grace Hopper): core
            # full-text search, with prefix matching, on a GIN index.
            GinIndex(
                SearchVector("name", config="simple"),
                name="profile_name_words",
                condition=~Q(name=""),
            ),
            models.Index(
                F("last_seen").desc(nulls_last=True), F("id").desc(), name="profile_last_seen"
            ),
            models.Index(fields=["rfm_score"], name="profile_rfm", condition=~Q(rfm_score="")),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """What the marketer calls this person: their name, email or user id."""
        return self.name or self.email or self.user_id or f"Anonymous #{self.pk}"

    @property
    def is_known(self) -> bool:
        """Known: we can tell who it is (a user id or an email), not only a device."""
        return bool(self.user_id or self.email)


class Identity(models.Model):
    """An id that points to one profile: an anonymous id, a user id, an email, or an id of
    another namespace a source sends."""

    class Namespace(models.TextChoices):
        ANONYMOUS_ID = "anonymous_id", "Anonymous id"
        USER_ID = "user_id", "User id"
        EMAIL = "email", "Email"

    # Indexed by `identity_profile` below.
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="identities", db_index=False
    )
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
        indexes = [
            models.Index(fields=["profile"], name="identity_profile"),
            # Search by any id, or the start of one, whatever its namespace.
            models.Index(
                fields=["value"], opclasses=["varchar_pattern_ops"], name="identity_value"
            ),
        ]

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


class ConsentChange(models.Model):
    """The history of a profile's consent: each grant or withdrawal, when and how."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="consent_changes")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    state = models.CharField(max_length=10, choices=Consent.choices)
    at = models.DateTimeField()
    # How: "identify trait email_opt_in (Web shop)", "import orders.csv", "admin", …
    how = models.CharField(max_length=255, blank=True, default="")
    message_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["profile", "-at"], name="consent_profile_time")]

    def __str__(self) -> str:
        return f"{self.channel} {self.state or 'unknown'} at {self.at:%Y-%m-%d %H:%M}"


class Order(models.Model):
    """One order, from an `Order Completed` event or an import; refunds and cancellations
    reduce what it counts for. One row per order id whichever source sent it."""

    class Status(models.TextChoices):
        COMPLETED = "completed", "Completed"
        REFUNDED = "refunded", "Refunded"
        PARTLY_REFUNDED = "partly_refunded", "Partly refunded"
        CANCELLED = "cancelled", "Cancelled"

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="orders")
    order_id = models.CharField(max_length=255)
    placed_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETED)
    # As the event sent it, in its currency.
    currency = models.CharField(max_length=3, blank=True, default="")
    total = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    refunded = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    # The rate to the site's currency used (1 for the site's own currency).
    rate = models.DecimalField(max_digits=14, decimal_places=6, default=1)
    # Net value in the site's currency: (total - refunded) * rate, 0 once cancelled.
    net_revenue = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    # The order's items, as sent ([{sku, name, price, quantity, …}]).
    products = models.JSONField(default=list, blank=True)
    message_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["-placed_at"]
        constraints = [models.UniqueConstraint(fields=["order_id"], name="order_id_unique")]
        indexes = [
            models.Index(fields=["profile", "-placed_at"], name="order_profile_time"),
            # Orders of a period, for the dashboard's figures and the retention cohorts.
            models.Index(fields=["placed_at"], name="order_placed_at"),
        ]

    def __str__(self) -> str:
        return self.order_id


class ProfileNote(models.Model):
    """A dated note a marketer or support agent leaves on a profile."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["profile", "-created_at"], name="note_profile_time")]

    def __str__(self) -> str:
        return f"Note on #{self.profile_id} at {self.created_at:%Y-%m-%d %H:%M}"


class SuppressedIdentity(models.Model):
    """An id of a deleted person whose new events are dropped. Only a keyed hash of the id
    is kept (docs/profiles.md), so the table holds no personal value."""

    namespace = models.CharField(max_length=64)
    value_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "suppressed identities"
        constraints = [
            models.UniqueConstraint(fields=["namespace", "value_hash"], name="suppressed_unique")
        ]

    def __str__(self) -> str:
        return f"{self.namespace}:{self.value_hash[:12]}…"


class ProfileDeletion(models.Model):
    """The record that a profile was deleted: who, when, how much. No personal data."""

    profile_id = models.BigIntegerField()
    deleted_at = models.DateTimeField(default=timezone.now)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    events_deleted = models.IntegerField(default=0)
    identities_deleted = models.IntegerField(default=0)
    suppressed = models.BooleanField(default=False)
    reason = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-deleted_at"]

    def __str__(self) -> str:
        return f"Profile #{self.profile_id} deleted {self.deleted_at:%Y-%m-%d}"
