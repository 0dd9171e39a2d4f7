from django.contrib import admin
from django.http import HttpRequest

from cdp_project.models import Heartbeat, SavedFunnel


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    """Read-only: the scheduler and the worker write these themselves."""

    list_display = ("name", "seen_at", "seen_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Heartbeat | None = None) -> bool:
        return False


@admin.register(SavedFunnel)
class SavedFunnelAdmin(admin.ModelAdmin):
    """Saved on the funnel page through the audited `funnel_save`; here read-only."""

    list_display = ("name", "created_by", "updated_at")
    search_fields = ("name",)
    readonly_fields = ("name", "steps", "created_by", "created_at", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SavedFunnel | None = None) -> bool:
        return False
