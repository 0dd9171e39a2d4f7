"""The segment's name and description; the conditions are the builder's (segments/builder/)."""

from __future__ import annotations

from django import forms

from cdp_project.core.forms import NulFreeCharField
from segments.models import Segment

NAME_MAX_LENGTH = Segment._meta.get_field("name").max_length or 200
DESCRIPTION_MAX_LENGTH = 2000


class SegmentForm(forms.Form):
    name = NulFreeCharField(
        label="Name",
        max_length=NAME_MAX_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "Shoe lovers who left a cart"}),
        error_messages={
            "required": "Give the segment a name: campaigns and lists show it.",
            "max_length": "A name holds at most %(limit_value)s characters "
            "(this one has %(show_value)s).",
        },
    )
    description = NulFreeCharField(
        label="Description",
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "Who they are and what the segment is for"}
        ),
        error_messages={
            "max_length": "A description holds at most %(limit_value)s characters "
            "(this one has %(show_value)s).",
        },
    )
