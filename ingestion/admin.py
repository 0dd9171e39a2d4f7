from django.contrib import admin

from cdp_project.core.admin_tools import EstimatedCountPaginator
from ingestion.models import (
    Activity,
    ActivityProperty,
    Event,
    FieldType,
    MessageKey,
    Product,
    ProfileAttribute,
    Refusal,
    Source,
    WriteKey,
)


class WriteKeyInline(admin.TabularInline):
    model = WriteKey
    extra = 0
    fields = ["key", "label", "created_at", "revoked_at"]
    readonly_fields = ["key", "created_at"]


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "enabled", "created_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    inlines = [WriteKeyInline]

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        # A source is of no use without a key: a new one gets its first key, as in the UI.
        # (The admin's own history records the change, in the admin's transaction.)
        if not change and not form.instance.write_keys.exists():
            WriteKey.objects.create(source=form.instance, label="First key")


@admin.register(WriteKey)
class WriteKeyAdmin(admin.ModelAdmin):
    list_display = ["key", "source", "label", "created_at", "revoked_at"]
    list_filter = ["source"]
    list_select_related = ["source"]
    search_fields = ["key", "label", "source__name"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["source"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "name", "source", "user_id", "anonymous_id", "timestamp"]
    list_filter = ["type", "source"]
    list_select_related = ["source"]
    # Exact matches only: they use the indexes; a substring search would scan the table.
    search_fields = ["=message_id", "=user_id", "=anonymous_id", "=name"]
    raw_id_fields = ["source"]
    readonly_fields = ["received_at", "processed_at"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-id"]


@admin.register(MessageKey)
class MessageKeyAdmin(admin.ModelAdmin):
    list_display = ["message_id", "source", "received_at"]
    search_fields = ["=message_id"]
    raw_id_fields = ["source"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-id"]


@admin.register(Refusal)
class RefusalAdmin(admin.ModelAdmin):
    list_display = ["received_at", "source", "code", "index", "message"]
    list_filter = ["code", "source"]
    list_select_related = ["source"]
    search_fields = ["=message_id", "code"]
    raw_id_fields = ["source"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-id"]


# --- the catalog ---------------------------------------------------------------------------


class ActivityPropertyInline(admin.TabularInline):
    model = ActivityProperty
    extra = 0
    fields = ["path", "display_name", "personal", "pinned_type", "volume", "last_seen"]
    readonly_fields = ["path", "volume", "last_seen"]
    show_change_link = True
    can_delete = False


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "display_name", "role", "status", "volume", "last_seen"]
    list_filter = ["kind", "status", "role"]
    search_fields = ["name", "display_name"]
    readonly_fields = [
        "volume",
        "blocked_count",
        "property_count",
        "properties_truncated",
        "first_seen",
        "last_seen",
        "created_at",
    ]
    inlines = [ActivityPropertyInline]


_FIELD_COUNTS = [f"{kind}_count" for kind in FieldType.values]


@admin.register(ActivityProperty)
class ActivityPropertyAdmin(admin.ModelAdmin):
    list_display = ["path", "activity", "display_name", "personal", "pinned_type", "volume"]
    list_filter = ["personal", "pinned_type"]
    list_select_related = ["activity"]
    search_fields = ["path", "display_name", "activity__name"]
    raw_id_fields = ["activity"]
    readonly_fields = [*_FIELD_COUNTS, "volume", "first_seen", "last_seen", "examples"]


@admin.register(ProfileAttribute)
class ProfileAttributeAdmin(admin.ModelAdmin):
    list_display = ["path", "display_name", "personal", "pinned_type", "volume", "last_seen"]
    list_filter = ["personal", "pinned_type"]
    search_fields = ["path", "display_name"]
    readonly_fields = [*_FIELD_COUNTS, "volume", "first_seen", "last_seen", "examples"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "price", "currency", "category", "brand", "updated_at"]
    search_fields = ["=key", "=sku", "=product_id", "name"]
    readonly_fields = ["values_at", "first_seen", "updated_at"]
