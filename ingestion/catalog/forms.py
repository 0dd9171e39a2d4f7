from __future__ import annotations

from django import forms

from ingestion.models import Activity, CommerceRole, FieldType


class ActivityForm(forms.Form):
    display_name = forms.CharField(
        max_length=255, required=False, help_text="Shown instead of the event name."
    )
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="What it means."
    )
    role = forms.ChoiceField(
        choices=CommerceRole.choices,
        required=False,
        help_text="What it means to commerce features: campaigns and computed attributes "
        "read activities by role.",
    )
    engagement_points = forms.FloatField(
        required=False,
        min_value=-100,
        max_value=100,
        help_text="Points one event adds to a profile's engagement score. Empty: the default "
        "for its role (order 10, checkout 5, add to cart 3, product view 1, page view 0.5, "
        "other events 1).",
    )
    status = forms.ChoiceField(
        choices=Activity.Status.choices,
        widget=forms.RadioSelect,
        help_text="Hidden: still collected, left out of lists. Blocked: its events are "
        "refused at ingest.",
    )


class FieldForm(forms.Form):
    display_name = forms.CharField(max_length=255, required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    personal = forms.BooleanField(
        required=False, help_text="Personal data: no example values are kept."
    )
    pinned_type = forms.ChoiceField(
        choices=[("", "Most frequent type"), *list(FieldType.choices)],
        required=False,
        label="Type for segments",
    )


class ProductImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="A header row with <code>sku</code> or <code>product_id</code>, and any of "
        "name, price, currency, image_url, url, category, brand.",
    )
