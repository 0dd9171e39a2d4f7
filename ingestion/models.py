from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
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
    # Days its events are kept (older ones are deleted every night); null: the site's
    # EVENT_RETENTION_DAYS; 0: for ever.
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    # The time of its oldest event kept, as the last retention run found it, and when.
    oldest_event_at = models.DateTimeField(null=True, blank=True)
    retention_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def retention_days_applied(self) -> int:
        """Days its events are kept: its own setting, or the site's (0: for ever)."""
        if self.retention_days is not None:
            return self.retention_days
        return int(settings.EVENT_RETENTION_DAYS)

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

    # No index of its own: `event_source_latest` (source, id) serves every look-up by source.
    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="events", db_index=False
    )
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
    # Resolved at ingest, in the transaction that stores the event; moved on merges.
    profile = models.ForeignKey(
        "profiles.Profile",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="events",
        db_index=False,
    )

    class Meta:
        indexes = [
            models.Index(fields=["source", "-id"], name="event_source_latest"),
            # One profile's timeline, newest first.
            models.Index(fields=["profile", "-timestamp", "-id"], name="event_profile_timeline"),
            models.Index(fields=["name", "timestamp"], name="event_name_time"),
            # The debugger's search by message id (the de-duplication key is `MessageKey`).
            models.Index(fields=["message_id"], name="event_message_id"),
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

    # No index of its own: the unique (source, message id) serves look-ups by source.
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+", db_index=False)
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
        indexes = [
            models.Index(fields=["source", "-id"], name="refusal_source_latest"),
            # The debugger's search by message id.
            models.Index(
                fields=["message_id"], name="refusal_message_id", condition=~Q(message_id="")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class EventHour(models.Model):
    """How many events one source stored for one activity in one hour of event time (UTC):
    the rollup the dashboard and its charts read instead of counting the events table.

    Filled by `ingestion.rollups.event_hours_refresh` on Celery beat, from the events
    stored since its last run (`RollupMark`), never on the ingest path. `name` is the track
    event's name, empty for the other calls (one row per type, as the catalog keys page and
    screen calls, so page names cannot flood it)."""

    hour = models.DateTimeField()
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+", db_index=False)
    type = models.CharField(max_length=10)
    name = models.CharField(max_length=255, blank=True, default="")
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "source", "type", "name"], name="event_hour_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.source_id} {self.type} {self.name}: {self.count}"


class RollupMark(models.Model):
    """How far a rollup has read the events table: the last event id it counted."""

    name = models.CharField(max_length=64, unique=True)
    last_id = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.last_id}"


# --- the activity catalog ------------------------------------------------------------------


class FieldType(models.TextChoices):
    """The types the catalog infers from JSON values (`null` is "no value")."""

    STRING = "string", "String"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Boolean"
    DATETIME = "datetime", "Date and time"
    OBJECT = "object", "Object"
    ARRAY = "array", "Array"


# Which type wins when two were seen equally often; `max` keeps the first.
TIE_ORDER = ["number", "datetime", "boolean", "object", "array", "string"]


class CommerceRole(models.TextChoices):
    """What an activity means to commerce features; defaults follow the Segment e-commerce
    spec names, and a marketer maps other names (`add_to_cart`) in the catalog."""

    NONE = "", "No role"
    PRODUCT_LIST_VIEWED = "product_list_viewed", "Product list viewed"
    PRODUCT_VIEWED = "product_viewed", "Product viewed"
    PRODUCT_ADDED = "product_added", "Product added to cart"
    PRODUCT_REMOVED = "product_removed", "Product removed from cart"
    CART_VIEWED = "cart_viewed", "Cart viewed"
    CHECKOUT_STARTED = "checkout_started", "Checkout started"
    ORDER_COMPLETED = "order_completed", "Order completed"
    ORDER_REFUNDED = "order_refunded", "Order refunded"
    ORDER_CANCELLED = "order_cancelled", "Order cancelled"


class Activity(models.Model):
    """Something people do, discovered from events: a track event name, or page / screen
    calls (one activity each, `name` empty)."""

    class Kind(models.TextChoices):
        TRACK = "track", "Track"
        PAGE = "page", "Page"
        SCREEN = "screen", "Screen"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        # Still collected, left out of lists and pickers.
        HIDDEN = "hidden", "Hidden"
        # Its events are refused at ingest.
        BLOCKED = "blocked", "Blocked"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TRACK)
    name = models.CharField(max_length=255, blank=True, default="")
    display_name = models.CharField(max_length=255, blank=True, default="")
    description = models.TextField(blank=True, default="")
    role = models.CharField(max_length=32, choices=CommerceRole.choices, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # Points one event of this activity adds to a profile's engagement score; empty means
    # the default for its commerce role (docs/profiles.md).
    engagement_points = models.FloatField(null=True, blank=True)
    volume = models.BigIntegerField(default=0)
    blocked_count = models.BigIntegerField(default=0)
    property_count = models.IntegerField(default=0)
    # Set when new properties were left out because the activity reached its limit.
    properties_truncated = models.BooleanField(default=False)
    # Event times (skew-corrected), so back-filled history reads as it happened.
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "activities"
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="activity_kind_name_unique")
        ]
        indexes = [
            # Ingest reads the blocked names on every request: this index holds only them.
            models.Index(
                fields=["kind", "name"],
                name="activity_blocked",
                condition=Q(status="blocked"),
            ),
            models.Index(fields=["role"], name="activity_role", condition=~Q(role="")),
        ]

    def __str__(self) -> str:
        return self.label

    def get_absolute_url(self) -> str:
        return reverse("activity-detail", args=[self.pk])

    @property
    def label(self) -> str:
        if self.display_name:
            return self.display_name
        if self.kind == self.Kind.PAGE:
            return "Page viewed"
        if self.kind == self.Kind.SCREEN:
            return "Screen viewed"
        return self.name


class ActivityDay(models.Model):
    """How many events of an activity happened on a day (the site's time zone)."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["activity", "day"], name="activity_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.activity_id} {self.day}: {self.count}"


class DiscoveredField(models.Model):
    """A payload path found in events, with what the catalog learned about it."""

    # `category`, `address.city`, `products[].price`; see ingestion/catalog/paths.py.
    path = models.CharField(max_length=512)
    display_name = models.CharField(max_length=255, blank=True, default="")
    description = models.TextField(blank=True, default="")
    # Personal fields keep no example values.
    personal = models.BooleanField(default=False)
    # What the catalog found its values to look like, suggesting it be marked personal (a
    # key of ingestion.catalog.paths.PERSONAL_KINDS: "email", "iban", …); empty when nothing
    # looked personal, once it is personal, or once a marketer said it is not.
    personal_suggested = models.CharField(max_length=20, blank=True, default="")
    # A marketer said the field is not personal: the catalog suggests it no more.
    personal_dismissed = models.BooleanField(default=False)
    # The type segments use when values disagree; empty means the most frequent one.
    pinned_type = models.CharField(max_length=10, choices=FieldType.choices, blank=True)
    # Events in which the path held a value of each type (an event counts once per type).
    string_count = models.BigIntegerField(default=0)
    number_count = models.BigIntegerField(default=0)
    boolean_count = models.BigIntegerField(default=0)
    datetime_count = models.BigIntegerField(default=0)
    object_count = models.BigIntegerField(default=0)
    array_count = models.BigIntegerField(default=0)
    # Events in which the path held a value.
    volume = models.BigIntegerField(default=0)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    # The newest distinct values, masked where they look like an email or a phone number.
    examples = models.JSONField(default=list, blank=True)
    # Where each example came from, position by position: the id of the profile whose event
    # carried it (null when the event had none, or for examples kept before origins were),
    # so that a person's deletion removes the examples they sent, whatever the field's
    # marking (docs/profiles.md, "Data rights").
    example_origins = models.JSONField(default=list, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.path

    @property
    def type_counts(self) -> dict[str, int]:
        counts = {kind: getattr(self, f"{kind}_count") for kind in FieldType.values}
        return {kind: count for kind, count in counts.items() if count}

    @property
    def inferred_type(self) -> str:
        counts = self.type_counts
        if not counts:
            return ""
        # Most events win; on a tie the more specific type does (a price sent once as "12"
        # and once as 12 is a number sent wrongly once), so the answer is stable.
        return max(TIE_ORDER, key=lambda kind: counts.get(kind, 0))

    @property
    def type(self) -> str:
        """The type segments use: the pinned one, or the inferred one."""
        return self.pinned_type or self.inferred_type

    @property
    def has_drift(self) -> bool:
        return len(self.type_counts) > 1

    @property
    def label(self) -> str:
        return self.display_name or self.path


class ActivityProperty(DiscoveredField):
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="properties")

    class Meta:
        verbose_name_plural = "activity properties"
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["activity", "path"], name="activity_property_unique")
        ]

    def get_edit_url(self) -> str:
        return reverse("property-edit", args=[self.activity_id, self.pk])


class ProfileAttribute(DiscoveredField):
    """A trait path discovered from identify calls."""

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["path"], name="profile_attribute_unique")]

    def get_edit_url(self) -> str:
        return reverse("attribute-edit", args=[self.pk])


class CatalogCount(models.Model):
    """A running count the catalog needs as a denominator (identify calls, for the
    coverage of profile attributes). Updated once per processed batch, not per event."""

    key = models.CharField(max_length=64, unique=True)
    count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"


class Product(models.Model):
    """A product as events describe it, keyed by SKU (or product id when no SKU is sent).

    Each field holds the newest value seen for it (`field_times`): an event overwrites the
    fields it carries that were seen no later, so a late-arriving old event never undoes a
    newer value. CSV imports count as seen at the time of import.
    """

    key = models.CharField(max_length=255, unique=True)
    sku = models.CharField(max_length=255, blank=True, default="")
    product_id = models.CharField(max_length=255, blank=True, default="")
    name = models.CharField(max_length=500, blank=True, default="")
    price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    # As sent: sites send absolute and relative URLs alike.
    image_url = models.CharField(max_length=2000, blank=True, default="")
    url = models.CharField(max_length=2000, blank=True, default="")
    category = models.CharField(max_length=255, blank=True, default="")
    brand = models.CharField(max_length=255, blank=True, default="")
    values_at = models.DateTimeField(null=True, blank=True)
    # The one profile whose events alone described the product; null once a second person's
    # event (or an import) did, or when the event had no profile. A person's deletion
    # deletes the products only their events described.
    only_profile = models.BigIntegerField(null=True, blank=True)
    # When each field's value was seen (microseconds since the epoch): newest wins per field.
    field_times = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "key"]
        indexes = [
            models.Index(
                fields=["product_id"], name="product_product_id", condition=~Q(product_id="")
            ),
            models.Index(fields=["sku"], name="product_sku", condition=~Q(sku="")),
            models.Index(
                fields=["only_profile"],
                name="product_only_profile",
                condition=Q(only_profile__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.key
