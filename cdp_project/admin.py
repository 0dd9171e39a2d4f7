from django.contrib import admin
from django.http import HttpRequest

from cdp_project.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    """Read-only: the scheduler and the worker write these themselves."""

    list_display = ("name", "seen_at", "seen_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Heartbeat | None = None) -> bool:
        return False
