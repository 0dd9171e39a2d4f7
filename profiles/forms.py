from __future__ import annotations

from dataclasses import dataclass

from django import forms

from cdp_project.core.forms import NulFreeCharField, without_nul
from profiles.models import Consent, ConsentChange, Profile
from profiles.selectors import profile_search
from profiles.services import NOTE_MAX_LENGTH

# An email address is at most 320 characters; nothing longer names a person.
PROFILE_PICK_MAX_LENGTH = 320


class NoteForm(forms.Form):
    body = NulFreeCharField(
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


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(choices=ConsentChange.Channel.choices)
    state = forms.ChoiceField(
        choices=[(Consent.GRANTED, "Opted in"), (Consent.WITHDRAWN, "Opted out")]
    )
    how = NulFreeCharField(
        label="How",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "Asked by phone to stop emails"}),
    )


@dataclass(frozen=True)
class ProfilePick:
    """Whom a profile picker found: `profile` is the most recently seen of the profiles that
    match `search` (`more` when there are several), or `problem` says why there is none."""

    search: str
    profile: Profile | None = None
    more: bool = False
    problem: str = ""


class ProfilePickForm(forms.Form):
    """The person a campaign preview, a test send or a segment explanation is for, by an
    email, a user id, a name or a profile number (#42): the one picker of the product, drawn
    by templates/profiles/_profile_pick.html. Give a `prefix` where the page has other
    fields named `profile`."""

    profile = NulFreeCharField(
        required=False,
        max_length=PROFILE_PICK_MAX_LENGTH,
        error_messages={"max_length": "That is too long to be an email or an id."},
    )

    def pick(self) -> ProfilePick:
        if not self.is_valid():
            typed = str(without_nul(self.data.get(self.add_prefix("profile"), ""))).strip()
            return ProfilePick(
                search=typed[:PROFILE_PICK_MAX_LENGTH],
                problem=" ".join(str(error) for error in self.errors["profile"]),
            )
        search = self.cleaned_data["profile"]
        if not search:
            return ProfilePick(search="")
        found = profile_search(search=search, limit=2)
        if not found:
            return ProfilePick(search=search, problem=f"No profile matches “{search}”.")
        return ProfilePick(search=search, profile=found[0], more=len(found) > 1)
