from django.contrib import admin

from cdp_project.admin_tools import EstimatedCountPaginator
from ingestion.models import Event, MessageKey, Refusal, Source, WriteKey
from ingestion.services import write_key_create


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
        if not change and not form.instance.write_keys.exists():
            write_key_create(source=form.instance, label="First key")


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
