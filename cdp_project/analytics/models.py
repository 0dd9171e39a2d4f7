"""The analytics' one table: funnels a marketer saved. Its app is the project's own
(`cdp_project`, whose models module imports it), as the analytics are no app of their own."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SavedFunnel(models.Model):
    """A funnel a marketer saved: its steps, 2 to 8 activities in order, each with its
    property filters, in the segments' behaviour shape (`activity`, `where`), checked by
    `cdp_project.analytics.funnels.steps_parse` (docs/analytics.md)."""

    name = models.CharField(max_length=200)
    steps = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "cdp_project"
        db_table = "analytics_saved_funnel"
        constraints = [models.UniqueConstraint(fields=["name"], name="saved_funnel_name_unique")]

    def __str__(self) -> str:
        return self.name
