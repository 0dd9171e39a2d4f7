from django.contrib import admin
from django.http import HttpRequest

from cdp_project.access.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is evidence, so not even a superuser edits or deletes it here."""

    list_display = [
        "at",
        "actor_name",
        "system_actor",
        "action",
        "object_type",
        "object_id",
        "summary",
        "ip",
    ]
    list_filter = ["action", "object_type", "system_actor"]
    search_fields = ["=actor_name", "=object_id", "summary"]
    date_hierarchy = "at"
    list_select_related = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False
