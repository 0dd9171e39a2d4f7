from django.contrib import admin

from cdp_project.core.admin_tools import EstimatedCountPaginator
from segments.models import Membership, MembershipChange, Segment, SizeSnapshot


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "size", "refreshed_at", "refresh_ms", "updated_at"]
    search_fields = ["name"]
    fields = [
        "name",
        "description",
        "definition",
        "sentence",
        "created_by",
        "created_at",
        "updated_at",
        "size",
        "refreshed_at",
        "refresh_ms",
        "refresh_error",
    ]
    # The definition is checked against the catalog and turned into its sentence by the
    # builder (segments.services); an edit here would skip both.
    readonly_fields = [f for f in fields if isinstance(f, str) and f not in ("name", "description")]
    ordering = ["name", "id"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # The segment page's "Delete…" refuses while other segments or campaigns use it
        # (segments.services.segment_delete); admin's generic delete would not.
        return False


class _ReadOnly(admin.ModelAdmin):
    """Records of what refreshes found: made by `segments.membership`, never by hand."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    raw_id_fields = ["segment", "profile"]
    list_select_related = ["segment", "profile"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Membership)
class MembershipAdmin(_ReadOnly):
    list_display = ["segment", "profile", "entered_at"]
    list_filter = ["segment"]
    # Exact profile number only: served by the `membership_profile` index.
    search_fields = ["=profile__id"]
    ordering = ["-id"]


@admin.register(MembershipChange)
class MembershipChangeAdmin(_ReadOnly):
    list_display = ["segment", "profile", "kind", "at"]
    list_filter = ["kind", "segment"]
    search_fields = ["=profile__id"]
    ordering = ["-id"]


@admin.register(SizeSnapshot)
class SizeSnapshotAdmin(_ReadOnly):
    list_display = ["segment", "at", "size", "entered", "exited"]
    list_filter = ["segment"]
    raw_id_fields = ["segment"]
    list_select_related = ["segment"]
    ordering = ["-id"]
