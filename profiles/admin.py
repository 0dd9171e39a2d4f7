from django.contrib import admin

from cdp_project.admin_tools import EstimatedCountPaginator
from profiles.models import Identity, Profile, ProfileMerge


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ["namespace", "value", "first_seen", "message_id"]
    readonly_fields = fields
    can_delete = False


class MergeInline(admin.TabularInline):
    model = ProfileMerge
    extra = 0
    fields = ["merged_profile_id", "reason", "linked_by", "identities", "message_id", "merged_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["id", "email", "user_id", "created_at"]
    # Exact matches only: they use the partial indexes on user id and email.
    search_fields = ["=email", "=user_id"]
    readonly_fields = ["created_at", "trait_times"]
    inlines = [IdentityInline, MergeInline]
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
