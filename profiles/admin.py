from django.contrib import admin

from cdp_project.core.admin_tools import EstimatedCountPaginator, pretty_json
from profiles.computed.fields import ATTRIBUTE_FIELDS
from profiles.models import (
    ConsentChange,
    Identity,
    Order,
    Profile,
    ProfileDeletion,
    ProfileMerge,
    ProfileNote,
    SuppressedIdentity,
)


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = readonly_fields = ("namespace", "value", "first_seen", "message_id")
    can_delete = False


class MergeInline(admin.TabularInline):
    model = ProfileMerge
    extra = 0
    fields = readonly_fields = (
        "merged_profile_id",
        "reason",
        "linked_by",
        "identities",
        "message_id",
        "merged_at",
    )
    can_delete = False


class ConsentInline(admin.TabularInline):
    model = ConsentChange
    extra = 0
    fields = readonly_fields = ("channel", "state", "at", "how", "message_id")
    can_delete = False


class NoteInline(admin.TabularInline):
    model = ProfileNote
    extra = 0
    fields = ["body", "author", "created_at"]
    readonly_fields = ["author", "created_at"]


class OrderInline(admin.TabularInline):
    model = Order
    extra = 0
    fields = readonly_fields = (
        "order_id",
        "placed_at",
        "status",
        "total",
        "currency",
        "net_revenue",
    )
    can_delete = False
    show_change_link = True


COMPUTED_SHOWN = ("computed_at", *ATTRIBUTE_FIELDS, "rfm_score", "rfm_at")


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "email",
        "user_id",
        "last_seen",
        "event_count",
        "orders_count",
        "revenue",
        "rfm_score",
    ]
    list_filter = ["email_consent", "sms_consent"]
    # Exact matches only: they use the partial indexes on user id and email.
    search_fields = ["=email", "=user_id"]
    fieldsets = [
        (
            None,
            {"fields": ["user_id", "email", "name", "traits_shown", "times_shown", "created_at"]},
        ),
        (
            "Consent",
            {"fields": ["email_consent", "email_consent_at", "sms_consent", "sms_consent_at"]},
        ),
        (
            "Computed attributes",
            {"fields": COMPUTED_SHOWN},
        ),
    ]
    # Traits are what the person's events said, each with its time: shown, not edited, as
    # an edit here would be overwritten by the next event and skip the audit trail.
    readonly_fields = [
        "created_at",
        "traits_shown",
        "times_shown",
        "name",
        *COMPUTED_SHOWN,
    ]
    inlines = [IdentityInline, MergeInline, ConsentInline, OrderInline, NoteInline]

    @admin.display(description="traits")
    def traits_shown(self, profile: Profile) -> str:
        return pretty_json(profile.traits)

    @admin.display(description="trait times")
    def times_shown(self, profile: Profile) -> str:
        return pretty_json(profile.trait_times)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting a person is a data-rights action: the profile page's "Delete profile…"
        # also removes every copy of their values and can suppress their ids
        # (profiles.rights.profile_delete); admin's generic delete would do neither.
        return False

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-id"]


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ["namespace", "value", "profile", "first_seen"]
    list_filter = ["namespace"]
    search_fields = ["=value"]
    raw_id_fields = ["profile"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-id"]


@admin.register(ProfileMerge)
class ProfileMergeAdmin(admin.ModelAdmin):
    list_display = ["survivor", "merged_profile_id", "reason", "message_id", "merged_at"]
    list_filter = ["reason"]
    search_fields = ["=merged_profile_id", "=message_id"]
    raw_id_fields = ["survivor"]

    def has_add_permission(self, request) -> bool:
        return False  # a record of what identity resolution did, not something to make

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["order_id", "profile", "placed_at", "status", "total", "currency"]
    list_filter = ["status", "currency"]
    search_fields = ["=order_id"]
    raw_id_fields = ["profile"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-id"]


@admin.register(ConsentChange)
class ConsentChangeAdmin(admin.ModelAdmin):
    list_display = ["profile", "channel", "state", "at", "how"]
    list_filter = ["channel", "state"]
    raw_id_fields = ["profile"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-id"]


@admin.register(ProfileNote)
class ProfileNoteAdmin(admin.ModelAdmin):
    list_display = ["profile", "author", "created_at"]
    raw_id_fields = ["profile"]
    readonly_fields = ["author"]
    ordering = ["-id"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)


@admin.register(SuppressedIdentity)
class SuppressedIdentityAdmin(admin.ModelAdmin):
    """Deleting a row lifts the suppression: that id's events are accepted again."""

    list_display = ["namespace", "value_hash", "created_at"]
    list_filter = ["namespace"]
    readonly_fields = ["namespace", "value_hash", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False  # made by deleting a profile, from the hashed ids


@admin.register(ProfileDeletion)
class ProfileDeletionAdmin(admin.ModelAdmin):
    list_display = ["profile_id", "deleted_at", "deleted_by", "events_deleted", "suppressed"]
    readonly_fields = [
        "profile_id",
        "deleted_at",
        "deleted_by",
        "events_deleted",
        "identities_deleted",
        "suppressed",
        "reason",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
