from __future__ import annotations

from django import forms

from profiles.models import Consent, ConsentChange
from profiles.services import NOTE_MAX_LENGTH


class NoteForm(forms.Form):
    body = forms.CharField(
        label="Note",
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "What should the team know about this customer?"}
        ),
        error_messages={
            "required": "Write something first: the note is empty.",
            "max_length": "A note holds at most %(limit_value)s characters "
            "(this one has %(show_value)s).",
        },
    )

    def clean_body(self) -> str:
        body = self.cleaned_data["body"].replace("\x00", "").strip()
        if not body:
            raise forms.ValidationError("Write something first: the note is empty.")
        return body


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(choices=ConsentChange.Channel.choices)
    state = forms.ChoiceField(
        choices=[(Consent.GRANTED, "Opted in"), (Consent.WITHDRAWN, "Opted out")]
    )
    how = forms.CharField(
        label="How",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "Asked by phone to stop emails"}),
    )
