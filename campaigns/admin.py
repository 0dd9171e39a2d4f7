from django.contrib import admin

from campaigns.models import Campaign, EmailSuppression, Enrollment, Message
from cdp_project.core.admin_tools import EstimatedCountPaginator


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "status", "channel", "wait_seconds", "transactional"]
    list_filter = ["kind", "status", "channel"]
    search_fields = ["name"]
    raw_id_fields = ["audience"]


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["campaign", "profile", "state", "reason", "due_at", "created_at"]
    list_filter = ["state", "campaign"]
    raw_id_fields = ["profile", "event"]
    search_fields = ["=key", "=profile__email"]
    paginator = EstimatedCountPaginator
    # Written by the engine only: the rules decide these, not an edit.
    readonly_fields = [f.name for f in Enrollment._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "campaign", "recipient", "subject", "status", "attempts"]
    list_filter = ["status", "channel", "campaign"]
    search_fields = ["=recipient", "=idempotency_key"]
    raw_id_fields = ["profile", "enrollment"]
    paginator = EstimatedCountPaginator
    readonly_fields = [f.name for f in Message._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(EmailSuppression)
class EmailSuppressionAdmin(admin.ModelAdmin):
    """Reported by the email provider; an admin may delete one to lift it, not invent one."""

    list_display = ["address", "reason", "esp", "at"]
    list_filter = ["reason", "esp"]
    search_fields = ["=address"]
    readonly_fields = ["address", "reason", "esp", "detail", "at"]

    def has_add_permission(self, request) -> bool:
        return False
