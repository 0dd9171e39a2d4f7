"""The segment's name and description; the conditions are the builder's (segments/builder/)."""

from __future__ import annotations

from django import forms

from segments.models import Segment

NAME_MAX_LENGTH = Segment._meta.get_field("name").max_length or 200
DESCRIPTION_MAX_LENGTH = 2000


def _clean_text(value: str) -> str:
    # NUL cannot be stored in Postgres text, and nobody means it in a name.
    return value.replace("\x00", "").strip()


class SegmentForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=NAME_MAX_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "Shoe lovers who left a cart"}),
        error_messages={
            "required": "Give the segment a name: campaigns and lists show it.",
            "max_length": "A name holds at most %(limit_value)s characters "
            "(this one has %(show_value)s).",
        },
    )
    description = forms.CharField(
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

    def clean_name(self) -> str:
        name = _clean_text(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError("Give the segment a name: campaigns and lists show it.")
        return name

    def clean_description(self) -> str:
        return _clean_text(self.cleaned_data["description"])
