"""The campaign editor's form and the preview / test-send forms.

Templates are checked as the engine will run them: a syntax error, or anything the sandbox
refuses (reaching `__class__`, a model, settings), is refused with the sandbox's own words,
so a broken template never reaches a customer.
"""

from __future__ import annotations

from typing import Any

import jinja2
from django import forms
from django.core.exceptions import ValidationError
from jinja2 import nodes

from campaigns import rendering
from campaigns.models import Campaign
from campaigns.services import EDITABLE_FIELDS
from cdp_project.core.forms import NulFreeCharField
from segments.models import Segment

MAX_TEMPLATE_CHARS = 200_000
MAX_WAIT_SECONDS = 30 * 86_400
MAX_CONTROL_PERCENT = 50
WAIT_UNITS = (("minutes", "minutes"), ("hours", "hours"), ("days", "days"))
UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3_600, "days": 86_400}

# What the checks render templates over: the shape campaigns.content gives, with one product.
_SAMPLE_ITEM = {
    "key": "SKU-1",
    "sku": "SKU-1",
    "product_id": "SKU-1",
    "name": "Sample product",
    "price": 19.9,
    "price_display": "19.90 USD",
    "currency": "USD",
    "image_url": "",
    "url": "",
    "category": "",
    "brand": "",
    "quantity": 1,
    "line_total": 19.9,
}
SAMPLE_CONTEXT: dict[str, Any] = {
    "profile": {
        "id": 1,
        "name": "Ada Example",
        "first_name": "Ada",
        "email": "ada@example.com",
        "user_id": "user-1",
        "traits": {},
    },
    "event": {"name": "Sample", "timestamp": "2026-01-01T12:00:00+00:00", "properties": {}},
    "campaign": {"name": "Sample", "kind": "abandoned_cart"},
    "unsubscribe_url": "https://example.com/unsubscribe",
    "items": [_SAMPLE_ITEM],
    "cart": {
        "id": "",
        "lines": [_SAMPLE_ITEM],
        "count": 1,
        "total": 19.9,
        "total_display": "19.90 USD",
        "currency": "USD",
    },
    "order": {
        "id": "O-1",
        "lines": [_SAMPLE_ITEM],
        "currency": "USD",
        "total": 19.9,
        "total_display": "19.90 USD",
        "subtotal": 19.9,
        "shipping": 0.0,
        "tax": 0.0,
        "discount": 0.0,
    },
}
# Render errors that are the template's fault whatever the data: refused when saving. Others
# (a missing value, a filter given the wrong kind of value) may depend on the person, and
# show in the preview instead.
_ALWAYS_WRONG = ("not allowed", "rendering took longer", "the message is too long")


def template_problem(source: str, *, html: bool) -> str | None:
    """Why the sandbox refuses this template, or None."""
    problem = rendering.check(source, html=html)
    if problem:
        return problem
    tree = jinja2.Environment(autoescape=html).parse(source)  # noqa: S701 (parsed, not rendered)
    if any(tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))):
        return "include, import and extends are not available: a template stands alone"
    try:
        rendering.render(source, SAMPLE_CONTEXT, html=html)
    except rendering.TemplateError as exc:
        if str(exc).startswith(_ALWAYS_WRONG):
            return str(exc)
    return None


class CampaignForm(forms.ModelForm):
    """Every setting a marketer changes; the wait is a number and a unit."""

    wait_value = forms.IntegerField(
        label="Wait",
        min_value=0,
        error_messages={"min_value": "The wait cannot be negative."},
    )
    wait_unit = forms.ChoiceField(label="Unit", choices=WAIT_UNITS)
    webhook_url = forms.URLField(
        label="Webhook address",
        required=False,
        max_length=2000,
        assume_scheme="https",
        help_text="The message is posted there as signed JSON. Private and local addresses "
        "are refused when it is sent.",
    )
    audience = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("name"),
        required=False,
        empty_label="Everyone who triggers it",
        label="Audience",
    )

    class Meta:
        model = Campaign
        # What a marketer may change, the wait aside (an amount and a unit, below).
        fields = tuple(
            name for name in EDITABLE_FIELDS if name not in ("wait_seconds", "reentry_days")
        )
        labels = {
            "sender_name": "Sender name",
            "sender_email": "Sender address",
            "subject_template": "Subject",
            "html_template": "HTML body",
            "text_template": "Text body",
            "cap_count": "At most",
            "cap_hours": "messages per person every (hours)",
            "reentry": "Re-entry",
            "quiet_start": "Quiet from",
            "quiet_end": "until",
            "quiet_in_profile_zone": "In the person's time zone (their timezone trait)",
            "control_percent": "Control group (%)",
            "conversion_days": "Conversion window (days)",
        }
        help_texts = {
            "sender_email": "Empty: the site's address.",
            "cap_count": "0: no cap for this campaign.",
            "quiet_start": "Both empty: no quiet hours. A message due in quiet hours is held "
            "until they end.",
            "control_percent": "This share of the people who enter is deliberately not sent, "
            "to measure the campaign's lift.",
            "conversion_days": "An order within this many days after a message counts as a "
            "conversion.",
        }
        field_classes = {
            name: NulFreeCharField
            for name in ("subject_template", "html_template", "text_template")
        }
        widgets = {
            "channel": forms.RadioSelect,
            "subject_template": forms.TextInput(attrs={"class": "code"}),
            "html_template": forms.Textarea(attrs={"rows": 14, "class": "code"}),
            "text_template": forms.Textarea(attrs={"rows": 10, "class": "code"}),
            "quiet_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            seconds = self.instance.wait_seconds
            for unit in ("days", "hours", "minutes"):
                if seconds % UNIT_SECONDS[unit] == 0:
                    self.initial["wait_value"] = seconds // UNIT_SECONDS[unit]
                    self.initial["wait_unit"] = unit
                    break
            else:
                self.initial["wait_value"] = -(-seconds // 60)
                self.initial["wait_unit"] = "minutes"
        control = self.fields["control_percent"]
        assert isinstance(control, forms.IntegerField)
        control.max_value = MAX_CONTROL_PERCENT
        self.fields["control_percent"].widget.attrs.update(min=0, max=MAX_CONTROL_PERCENT)
        self.fields["conversion_days"].widget.attrs.update(min=1, max=90)
        self.fields["cap_hours"].widget.attrs.update(min=1)
        self.order_fields(["name", "wait_value", "wait_unit"])

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError("Give the campaign a name.")
        return name

    def clean_sender_name(self) -> str:
        name = self.cleaned_data["sender_name"]
        if "\n" in name or "\r" in name:
            raise ValidationError("The sender name must fit on one line.")
        return name.strip()

    def clean_control_percent(self) -> int:
        value = self.cleaned_data["control_percent"]
        if value > MAX_CONTROL_PERCENT:
            raise ValidationError(
                f"At most {MAX_CONTROL_PERCENT}%: a larger control group holds back more "
                "people than it sends to."
            )
        return value

    def clean_conversion_days(self) -> int:
        value = self.cleaned_data["conversion_days"]
        if not 1 <= value <= 90:
            raise ValidationError("Between 1 and 90 days.")
        return value

    def _template(self, name: str, *, html: bool) -> str:
        source = self.cleaned_data[name]
        if len(source) > MAX_TEMPLATE_CHARS:
            raise ValidationError(f"At most {MAX_TEMPLATE_CHARS:,} characters.")
        problem = template_problem(source, html=html)
        if problem:
            raise ValidationError(f"This template cannot be used: {problem}")
        return source

    def clean_subject_template(self) -> str:
        subject = self._template("subject_template", html=False)
        if "\n" in subject.strip() or "\r" in subject:
            raise ValidationError("The subject must fit on one line.")
        return subject.strip()

    def clean_html_template(self) -> str:
        return self._template("html_template", html=True)

    def clean_text_template(self) -> str:
        return self._template("text_template", html=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        value, unit = cleaned.get("wait_value"), cleaned.get("wait_unit")
        if value is not None and unit in UNIT_SECONDS:
            seconds = value * UNIT_SECONDS[unit]
            if seconds > MAX_WAIT_SECONDS:
                self.add_error("wait_value", "The wait is at most 30 days.")
            else:
                cleaned["wait_seconds"] = seconds
        if cleaned.get("channel") == Campaign.Channel.WEBHOOK and not cleaned.get("webhook_url"):
            self.add_error("webhook_url", "The webhook channel needs the address to post to.")
        url = cleaned.get("webhook_url") or ""
        if url and not url.lower().startswith(("http://", "https://")):
            self.add_error("webhook_url", "The address must start with http:// or https://.")
        start, end = cleaned.get("quiet_start"), cleaned.get("quiet_end")
        if (start is None) != (end is None):
            self.add_error("quiet_end", "Give both ends of the quiet hours, or neither.")
        elif start is not None and start == end:
            self.add_error("quiet_end", "Quiet hours must end at another time than they start.")
        if cleaned.get("cap_count") and not cleaned.get("cap_hours"):
            self.add_error("cap_hours", "A cap needs a period of at least one hour.")
        return cleaned

    def values(self) -> dict[str, Any]:
        """The cleaned settings, ready for `services.campaign_update`."""
        fields = {name: self.cleaned_data[name] for name in self.Meta.fields}
        fields["wait_seconds"] = self.cleaned_data["wait_seconds"]
        return fields


class TestSendForm(forms.Form):
    address = forms.EmailField(
        label="Send a test to",
        max_length=320,
        error_messages={
            "required": "Type the address to send the test to.",
            "invalid": "That is not an email address.",
        },
    )
