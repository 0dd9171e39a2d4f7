from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from cdp_project.core.admin_tools import (
    EstimatedCountPaginator,
    LargeTableAdmin,
    ReadOnlyAdmin,
)
from ingestion.models import (
    Activity,
    ActivityDay,
    ActivityProperty,
    CatalogCount,
    Event,
    EventHour,
    FieldType,
    MessageKey,
    Product,
    ProfileAttribute,
    Refusal,
    RollupMark,
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
class EventAdmin(LargeTableAdmin):
    list_display = ["id", "type", "name", "source", "user_id", "anonymous_id", "timestamp"]
    list_filter = ["type", "source"]
    list_select_related = ["source"]
    # Exact, case-sensitive matches on indexed columns only (LargeTableAdmin). The message
    # id has no index on this table (de-duplication lives in MessageKey): searching it
    # scanned every event, so it is found through the source's debugger instead.
    search_fields = ["user_id", "anonymous_id", "name"]
    search_help_text = "An exact user id, anonymous id or activity name."
    # Newest first by id, on the primary key; sorting by another column sorted the table.
    sortable_by = ("id",)
    raw_id_fields = ["source", "profile"]
    readonly_fields = ["received_at", "processed_at"]
    ordering = ["-id"]


@admin.register(MessageKey)
class MessageKeyAdmin(LargeTableAdmin):
    list_display = ["message_id", "source", "received_at"]
    search_fields = ["message_id"]
    sortable_by = ()
    raw_id_fields = ["source"]
    ordering = ["-id"]


class RecentRefusalCodeFilter(admin.SimpleListFilter):
    """The codes of the latest refusals: a filter on the field's distinct values would run
    `SELECT DISTINCT code` over the whole table on every page of the list."""

    title = "code"
    parameter_name = "code"
    recent = 10_000

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        latest = Refusal.objects.order_by("-id").values_list("code", flat=True)[: self.recent]
        codes = set(latest)
        if chosen := self.value():
            codes.add(chosen)
        return [(code, code) for code in sorted(codes)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        chosen = self.value()
        return queryset.filter(code=chosen) if chosen else queryset


@admin.register(Refusal)
class RefusalAdmin(LargeTableAdmin):
    list_display = ["received_at", "source", "code", "index", "message"]
    list_filter = [RecentRefusalCodeFilter, "source"]
    list_select_related = ["source"]
    search_fields = ["message_id", "code"]
    search_help_text = "An exact message id or refusal code."
    # Newest first by id; sorting by a column sorted the whole table.
    sortable_by = ()
    raw_id_fields = ["source"]
    ordering = ["-id"]


# --- rollups and counters the app keeps: shown, never edited ---------------------------------


@admin.register(EventHour)
class EventHourAdmin(ReadOnlyAdmin):
    list_display = ["hour", "source", "type", "name", "count"]
    list_filter = ["type", "source"]
    list_select_related = ["source"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-hour"]


@admin.register(RollupMark)
class RollupMarkAdmin(ReadOnlyAdmin):
    list_display = ["name", "last_id", "refreshed_at"]


@admin.register(ActivityDay)
class ActivityDayAdmin(ReadOnlyAdmin):
    list_display = ["day", "activity", "count"]
    list_select_related = ["activity"]
    raw_id_fields = ["activity"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-day", "activity"]


@admin.register(CatalogCount)
class CatalogCountAdmin(ReadOnlyAdmin):
    list_display = ["key", "count"]


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
