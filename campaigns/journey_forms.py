"""The journey editor's forms: a new journey, the trigger, each step type and the journey's
settings. Each step form starts from the step as stored (`from_step`) and gives it back
changed (`step`), its ways on kept by the editor (`editor.step_replace`).

Property filter rows are the segment builder's (`where.<n>:path`, `:operator`, `:value`,
`:value2`), read back and checked as the segment builder checks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from campaigns.forms import MAX_TEMPLATE_CHARS, UNIT_SECONDS, CampaignForm, template_problem
from campaigns.journeys.builtin import JOURNEY_TEMPLATES
from campaigns.journeys.definition import MAX_WAIT_SECONDS, WEEKDAYS
from campaigns.journeys.editor import ALL_OPERATORS
from campaigns.models import Campaign
from cdp_project.core.forms import NulFreeCharField, without_nul
from segments.builder import BuilderCatalog, activity_key, activity_selector
from segments.builder.form import form_value
from segments.definition import CONSENT_CHANNELS, CONSENT_STATES, NO_VALUE
from segments.tree import comparison_from_json

UNITS = (("minutes", "minutes"), ("hours", "hours"), ("days", "days"))


MAX_FILTERS = 10


def template_choices() -> list[tuple[str, str]]:
    choices = [(name, str(t["label"])) for name, t in JOURNEY_TEMPLATES.items()]
    builtins = Campaign.objects.exclude(kind=Campaign.Kind.JOURNEY).order_by("name")
    choices += [(f"builtin:{c.kind}", f"A copy of “{c.name}”") for c in builtins]
    return choices


def seconds_as(seconds: int) -> tuple[int, str]:
    """A duration as an amount and the largest unit that divides it."""
    for unit in ("days", "hours", "minutes"):
        if seconds and seconds % UNIT_SECONDS[unit] == 0:
            return seconds // UNIT_SECONDS[unit], unit
    return -(-seconds // 60), "minutes"


def activity_choices(catalog: BuilderCatalog) -> list[tuple[str, Any]]:
    return [
        ("", "Choose an activity…"),
        ("Activities", [(c.value, c.label) for c in catalog.activities]),
        ("By commerce role", [(c.value, c.label) for c in catalog.roles]),
    ]


class NewJourneyForm(forms.Form):
    name = NulFreeCharField(
        label="Name", max_length=200, error_messages={"required": "Give the journey a name."}
    )
    template = forms.ChoiceField(
        label="Start from",
        choices=(),
        error_messages={"invalid_choice": "Choose a starting point from the list."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = template_choices()  # type: ignore[attr-defined]

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not name:
            raise ValidationError("Give the journey a name.")
        return name


# --- property filter rows ----------------------------------------------------------------------


def filter_rows(where: Any, extra: int = 1) -> list[dict[str, str]]:
    rows = [
        {
            "path": str(f.get("path", "")),
            "operator": str(f.get("operator", "")),
            "value": form_value(f.get("value", "")),
            "value2": form_value(f.get("value2", "")),
        }
        for f in (where if isinstance(where, list) else [])
        if isinstance(f, Mapping)
    ]
    return rows + [{"path": "", "operator": "", "value": "", "value2": ""}] * extra


def filters_read(
    data: Mapping[str, Any], prefix: str = ""
) -> tuple[list[dict[str, Any]], list[str]]:
    """The property filter rows of a form (`<prefix>where.<n>:path` …): the filters, and
    what is wrong with them. A row without a property is left out."""
    found: list[dict[str, Any]] = []
    errors: list[str] = []
    for index in range(MAX_FILTERS):
        path = without_nul(str(data.get(f"{prefix}where.{index}:path", ""))).strip()
        if not path:
            continue
        operator = str(data.get(f"{prefix}where.{index}:operator", ""))
        item: dict[str, Any] = {"path": path, "operator": operator}
        if operator not in NO_VALUE:
            value = without_nul(str(data.get(f"{prefix}where.{index}:value", ""))).strip()
            if operator == "one_of":
                item["value"] = [v.strip() for v in value.split(",") if v.strip()]
            else:
                item["value"] = value
            if operator == "between":
                item["value2"] = without_nul(
                    str(data.get(f"{prefix}where.{index}:value2", ""))
                ).strip()
            if not value:
                errors.append(f"The filter on {path}: give a value to compare with.")
                continue
        try:
            comparison_from_json(item)
        except (KeyError, TypeError, ValueError):
            errors.append(f"The filter on {path}: choose what to compare it with.")
            continue
        found.append(item)
    return found, errors


class _FiltersMixin:
    """A form with property filter rows: checked in `clean`, kept in `where`."""

    filter_prefix = ""
    where: list[dict[str, Any]]

    def _read_filters(self, form: forms.Form) -> None:
        self.where, errors = filters_read(form.data, self.filter_prefix)
        for error in errors:
            form.add_error(None, error)


def _duration_fields(form: forms.Form, amount: str, unit: str, *, required: bool) -> int | None:
    value, kind = form.cleaned_data.get(amount), form.cleaned_data.get(unit)
    if value is None or kind not in UNIT_SECONDS:
        if required and amount not in form.errors:
            form.add_error(amount, "Give a duration.")
        return None
    seconds = int(value) * UNIT_SECONDS[kind]
    if seconds > MAX_WAIT_SECONDS:
        form.add_error(amount, "At most 366 days.")
        return None
    return seconds


class StepForm(forms.Form):
    """A step's form: `from_step` fills it from the stored step; `step()` is the step as
    changed (call after is_valid)."""

    def __init__(
        self, *args: Any, stored: Mapping[str, Any], catalog: BuilderCatalog, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.stored = dict(stored)
        self.catalog = catalog
        if not self.is_bound:
            self.initial.update(self.from_step(self.stored))

    def from_step(self, step: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def step(self) -> dict[str, Any]:
        return dict(self.stored)


class WaitForm(StepForm):
    amount = forms.IntegerField(label="Wait", min_value=0, required=False)
    unit = forms.ChoiceField(label="Unit", choices=UNITS)
    until = forms.TimeField(
        label="Then until (time of day)",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="In the person's time zone (their timezone trait), else the site's.",
    )
    weekdays = forms.TypedMultipleChoiceField(
        label="Only on",
        choices=[(n, day) for n, day in enumerate(WEEKDAYS)],
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: any day.",
    )

    def from_step(self, step: Mapping[str, Any]) -> dict[str, Any]:
        amount, unit = seconds_as(int(step.get("seconds") or 0))
        return {
            "amount": amount,
            "unit": unit,
            "until": step.get("until") or None,
            "weekdays": step.get("weekdays") or [],
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        seconds = _duration_fields(self, "amount", "unit", required=False) or 0
        cleaned["seconds"] = seconds
        if not seconds and not cleaned.get("until") and not cleaned.get("weekdays"):
            self.add_error("amount", "Wait a duration, or until a time of day or a weekday.")
        return cleaned

    def step(self) -> dict[str, Any]:
        until = self.cleaned_data.get("until")
        return {
            **self.stored,
            "seconds": self.cleaned_data["seconds"],
            "until": until.strftime("%H:%M") if until else "",
            "weekdays": sorted(self.cleaned_data.get("weekdays") or []),
        }


class WaitForForm(_FiltersMixin, StepForm):
    activity = forms.ChoiceField(
        label="Activity",
        choices=(),
        error_messages={"required": "Choose the activity to wait for."},
    )
    match_keys = NulFreeCharField(
        label="With the same",
        required=False,
        max_length=500,
        help_text="Properties of the trigger's event, comma-separated (cart_id). A key the "
        "trigger did not carry is not compared.",
    )
    timeout_amount = forms.IntegerField(label="Up to", min_value=1, required=False)
    timeout_unit = forms.ChoiceField(label="Unit", choices=UNITS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["activity"].choices = activity_choices(self.catalog)  # type: ignore[attr-defined]
        self.where = list(self.stored.get("where") or [])

    def from_step(self, step: Mapping[str, Any]) -> dict[str, Any]:
        amount, unit = seconds_as(int(step.get("timeout_seconds") or 0))
        return {
            "activity": activity_key(step.get("activity")),
            "match_keys": ", ".join(str(k) for k in step.get("match_keys") or []),
            "timeout_amount": amount or None,
            "timeout_unit": unit,
        }

    def clean_activity(self) -> str:
        value = str(self.cleaned_data["activity"])
        if not activity_selector(value):
            raise ValidationError("Choose the activity to wait for.")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self._read_filters(self)
        seconds = _duration_fields(self, "timeout_amount", "timeout_unit", required=True)
        cleaned["timeout_seconds"] = seconds
        keys = [k.strip() for k in str(cleaned.get("match_keys") or "").split(",") if k.strip()]
        if len(keys) > 5:
            self.add_error("match_keys", "At most 5 keys.")
        cleaned["keys"] = keys
        return cleaned

    def step(self) -> dict[str, Any]:
        return {
            **self.stored,
            "activity": activity_selector(self.cleaned_data["activity"]),
            "where": self.where,
            "match_keys": self.cleaned_data["keys"],
            "timeout_seconds": self.cleaned_data["timeout_seconds"],
        }


CONSENT_CHOICES = [("", "— no consent condition")] + [
    (f"{channel}:{state}", f"{state_words} {channel_words}".capitalize())
    for channel, channel_words in CONSENT_CHANNELS.items()
    for state, state_words in CONSENT_STATES.items()
]


class SplitForm(_FiltersMixin, StepForm):
    """Yes when every condition given holds: consent, a trait comparison, segment
    membership, an activity since entering. Conditions the segment builder made that this
    form does not show (groups, computed attributes…) are kept as they are."""

    filter_prefix = "did_"
    consent = forms.ChoiceField(label="Consent", choices=CONSENT_CHOICES, required=False)
    trait = forms.ChoiceField(label="Trait", choices=(), required=False)
    trait_operator = forms.ChoiceField(
        label="Comparison", choices=[("", "—"), *ALL_OPERATORS], required=False
    )
    trait_value = NulFreeCharField(label="Value", required=False, max_length=1000)
    segment = forms.ChoiceField(label="Segment", choices=(), required=False)
    segment_in = forms.ChoiceField(
        label="Membership",
        choices=(("in", "is a member"), ("out", "is not a member")),
        required=False,
    )
    did = forms.ChoiceField(label="Did since entering", choices=(), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["trait"].choices = [  # type: ignore[attr-defined]
            ("", "— no trait condition"),
            *[(c.value, c.label) for c in self.catalog.trait_choices],
            *[(c.value, c.label) for c in self.catalog.computed_choices],
        ]
        self.fields["segment"].choices = [  # type: ignore[attr-defined]
            ("", "— no segment condition"),
            *[(c.value, c.label) for c in self.catalog.segments],
        ]
        choices = activity_choices(self.catalog)
        choices[0] = ("", "— no activity condition")
        self.fields["did"].choices = choices  # type: ignore[attr-defined]
        did = self.stored.get("did")
        self.where = list(did.get("where") or []) if isinstance(did, Mapping) else []

    def _conditions(self) -> list[dict[str, Any]]:
        condition = self.stored.get("condition") or {}
        return [c for c in condition.get("conditions") or [] if isinstance(c, dict)]

    def _shown(self) -> dict[str, int]:
        """Which stored condition each part of the form shows (the first of its kind)."""
        shown: dict[str, int] = {}
        for index, node in enumerate(self._conditions()):
            kind = node.get("kind")
            if kind == "consent" and not node.get("negate") and "consent" not in shown:
                shown["consent"] = index
            elif kind == "attribute" and not node.get("negate") and "attribute" not in shown:
                shown["attribute"] = index
            elif kind == "segment" and "segment" not in shown:
                shown["segment"] = index
        return shown

    def kept(self) -> list[dict[str, Any]]:
        shown = set(self._shown().values())
        return [c for n, c in enumerate(self._conditions()) if n not in shown]

    def from_step(self, step: Mapping[str, Any]) -> dict[str, Any]:
        initial: dict[str, Any] = {"segment_in": "in"}
        conditions = self._conditions()
        for kind, index in self._shown().items():
            node = conditions[index]
            if kind == "consent":
                initial["consent"] = f"{node.get('channel')}:{node.get('state')}"
            elif kind == "attribute":
                initial["trait"] = f"{node.get('scope')}:{node.get('path')}"
                initial["trait_operator"] = node.get("operator", "")
                initial["trait_value"] = form_value(node.get("value", ""))
            elif kind == "segment":
                initial["segment"] = str(node.get("segment") or "")
                initial["segment_in"] = "out" if node.get("negate") else "in"
        did = step.get("did")
        if isinstance(did, Mapping):
            initial["did"] = activity_key(did.get("activity"))
        return initial

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self._read_filters(self)
        conditions: list[dict[str, Any]] = []
        if consent := cleaned.get("consent"):
            channel, _, state = consent.partition(":")
            conditions.append(
                {"kind": "consent", "negate": False, "channel": channel, "state": state}
            )
        if trait := cleaned.get("trait"):
            scope, _, path = trait.partition(":")
            operator = cleaned.get("trait_operator") or ""
            node: dict[str, Any] = {
                "kind": "attribute",
                "negate": False,
                "scope": scope,
                "path": path,
                "operator": operator,
            }
            value = str(cleaned.get("trait_value") or "").strip()
            if not operator:
                self.add_error("trait_operator", "Choose how to compare the trait.")
            elif operator not in NO_VALUE:
                if not value:
                    self.add_error("trait_value", "Give a value to compare the trait with.")
                node["value"] = (
                    [v.strip() for v in value.split(",") if v.strip()]
                    if operator == "one_of"
                    else value
                )
            conditions.append(node)
        elif cleaned.get("trait_operator") and cleaned.get("trait_value"):
            self.add_error("trait", "Choose the trait to compare.")
        if segment := cleaned.get("segment"):
            conditions.append(
                {
                    "kind": "segment",
                    "negate": cleaned.get("segment_in") == "out",
                    "segment": int(segment),
                }
            )
        conditions.extend(self.kept())
        did = activity_selector(cleaned.get("did") or "")
        if not did and self.where:
            self.add_error("did", "Choose the activity the property filters are about.")
        if not conditions and not did:
            self.add_error(None, "Give at least one condition.")
        cleaned["conditions"] = conditions
        cleaned["did_selector"] = did
        return cleaned

    def step(self) -> dict[str, Any]:
        condition = dict(self.stored.get("condition") or {"kind": "group", "match": "all"})
        condition.setdefault("kind", "group")
        condition.setdefault("match", "all")
        condition["conditions"] = self.cleaned_data["conditions"]
        did = self.cleaned_data["did_selector"]
        return {
            **self.stored,
            "condition": condition,
            "did": {"activity": did, "where": self.where} if did else None,
        }


class RandomForm(StepForm):
    """Two to four branches, with labels and shares adding up to 100 %."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = [b for b in self.stored.get("branches") or [] if isinstance(b, Mapping)]
        for n in range(4):
            branch = stored[n] if n < len(stored) else {}
            self.fields[f"label_{n}"] = NulFreeCharField(
                label=f"Branch {n + 1} label", required=False, max_length=100
            )
            self.fields[f"percent_{n}"] = forms.IntegerField(
                label=f"Branch {n + 1} share (%)", required=False, min_value=0, max_value=100
            )
            if not self.is_bound and branch:
                self.initial[f"label_{n}"] = branch.get("label", "")
                self.initial[f"percent_{n}"] = branch.get("percent", 0)

    def rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"label_{n}"], self[f"percent_{n}"]) for n in range(4)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        stored = [b for b in self.stored.get("branches") or [] if isinstance(b, Mapping)]
        branches = []
        for n in range(4):
            label = str(cleaned.get(f"label_{n}") or "").strip()
            percent = cleaned.get(f"percent_{n}")
            nxt = str(stored[n].get("next") or "") if n < len(stored) else ""
            if percent is None and not label:
                if nxt:
                    self.add_error(
                        f"percent_{n}",
                        "This branch has steps: remove them before removing the branch.",
                    )
                continue
            if percent is None:
                self.add_error(f"percent_{n}", "Give this branch its share.")
                continue
            branches.append({"percent": percent, "next": nxt, "label": label or chr(ord("A") + n)})
        if not 2 <= len(branches) <= 4:
            self.add_error(None, "A random split has two to four branches.")
        elif sum(b["percent"] for b in branches) != 100:
            self.add_error(None, "The shares must add up to 100 %.")
        cleaned["branches"] = branches
        return cleaned

    def step(self) -> dict[str, Any]:
        return {**self.stored, "branches": self.cleaned_data["branches"]}


class SendForm(StepForm):
    channel = forms.ChoiceField(
        label="Channel", choices=Campaign.Channel.choices, widget=forms.RadioSelect
    )
    transactional = forms.ChoiceField(
        label="Kind of message",
        choices=(
            ("0", "Marketing: needs consent; caps and quiet hours apply"),
            ("1", "Transactional: no consent needed; no caps or quiet hours"),
        ),
        widget=forms.RadioSelect,
    )
    sender_name = NulFreeCharField(label="Sender name", required=False, max_length=200)
    sender_email = forms.EmailField(
        label="Sender address", required=False, max_length=320, help_text="Empty: the site's."
    )
    subject = NulFreeCharField(
        label="Subject",
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"class": "code"}),
    )
    html = NulFreeCharField(
        label="HTML body",
        required=False,
        max_length=MAX_TEMPLATE_CHARS,
        widget=forms.Textarea(attrs={"rows": 10, "class": "code"}),
    )
    text = NulFreeCharField(
        label="Text body",
        required=False,
        max_length=MAX_TEMPLATE_CHARS,
        widget=forms.Textarea(attrs={"rows": 6, "class": "code"}),
    )
    items = forms.ChoiceField(
        label="Products it lists",
        required=False,
        choices=(
            ("", "None"),
            ("viewed", "The items viewed"),
            ("cart", "The cart as it stands at send time"),
            ("order", "The order's lines"),
        ),
    )
    webhook_url = forms.URLField(
        label="Webhook address", required=False, max_length=2000, assume_scheme="https"
    )

    def from_step(self, step: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "channel": step.get("channel") or "email",
            "transactional": "1" if step.get("transactional") else "0",
            "sender_name": step.get("sender_name", ""),
            "sender_email": step.get("sender_email", ""),
            "subject": step.get("subject", ""),
            "html": step.get("html", ""),
            "text": step.get("text", ""),
            "items": step.get("items", ""),
            "webhook_url": step.get("webhook_url", ""),
        }

    def _template(self, name: str, *, html: bool) -> str:
        source = str(self.cleaned_data.get(name) or "")
        problem = template_problem(source, html=html) if source else None
        if problem:
            raise ValidationError(f"This template cannot be used: {problem}")
        return source

    def clean_subject(self) -> str:
        subject = self._template("subject", html=False).strip()
        if "\n" in subject or "\r" in subject:
            raise ValidationError("The subject must fit on one line.")
        return subject

    def clean_html(self) -> str:
        return self._template("html", html=True)

    def clean_text(self) -> str:
        return self._template("text", html=False)

    def clean_sender_name(self) -> str:
        name = str(self.cleaned_data["sender_name"])
        if "\n" in name or "\r" in name:
            raise ValidationError("The sender name must fit on one line.")
        return name.strip()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("channel") == "webhook":
            url = cleaned.get("webhook_url") or ""
            if not url and "webhook_url" not in self.errors:
                self.add_error("webhook_url", "The webhook needs the address to post to.")
            elif url and not url.lower().startswith(("http://", "https://")):
                self.add_error("webhook_url", "The address must start with http:// or https://.")
        elif cleaned.get("channel") == "email":
            if "subject" not in self.errors and not cleaned.get("subject"):
                self.add_error("subject", "The email needs a subject.")
            if (
                "html" not in self.errors
                and "text" not in self.errors
                and not (
                    str(cleaned.get("html") or "").strip() or str(cleaned.get("text") or "").strip()
                )
            ):
                self.add_error("html", "The email needs an HTML or a text body.")
        return cleaned

    def step(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            **self.stored,
            "channel": data["channel"],
            "transactional": data["transactional"] == "1",
            "sender_name": data["sender_name"],
            "sender_email": data["sender_email"],
            "subject": data["subject"],
            "html": data["html"],
            "text": data["text"],
            "items": data["items"],
            "webhook_url": data["webhook_url"],
        }


class UpdateForm(StepForm):
    traits = NulFreeCharField(
        label="Set traits",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 4, "class": "code"}),
        help_text="One a line: key = value (vip = yes).",
    )
    note = NulFreeCharField(
        label="Add a note",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def from_step(self, step: Mapping[str, Any]) -> dict[str, Any]:
        traits = step.get("traits") or {}
        lines = [f"{k} = {v}" for k, v in traits.items()] if isinstance(traits, Mapping) else []
        return {"traits": "\n".join(lines), "note": step.get("note", "")}

    def clean_traits(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for number, line in enumerate(str(self.cleaned_data["traits"]).splitlines(), 1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise ValidationError(f"Line {number}: write key = value.")
            if len(key.strip()) > 200:
                raise ValidationError(f"Line {number}: a trait's name is at most 200 characters.")
            found[key.strip()] = value.strip()
        return found

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if (
            "traits" not in self.errors
            and not cleaned.get("traits")
            and not str(cleaned.get("note") or "").strip()
        ):
            self.add_error(None, "Set a trait or write a note.")
        return cleaned

    def step(self) -> dict[str, Any]:
        return {
            **self.stored,
            "traits": self.cleaned_data["traits"],
            "note": str(self.cleaned_data["note"]).strip(),
        }


class ExitForm(StepForm):
    pass


STEP_FORMS: dict[str, type[StepForm]] = {
    "wait": WaitForm,
    "wait_for": WaitForForm,
    "split": SplitForm,
    "random": RandomForm,
    "send": SendForm,
    "update": UpdateForm,
    "exit": ExitForm,
}


# --- the trigger ---------------------------------------------------------------------------


TRIGGER_KINDS = (
    ("activity", "An activity"),
    ("segment", "Joining or leaving a segment"),
    ("date", "A date in a trait"),
    ("broadcast", "A broadcast to a segment"),
)


class TriggerForm(_FiltersMixin, forms.Form):
    kind = forms.ChoiceField(label="People enter on", choices=TRIGGER_KINDS)
    activity = forms.ChoiceField(label="Activity", choices=(), required=False)
    sources = forms.MultipleChoiceField(
        label="From the sources",
        required=False,
        choices=(),
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: from any source.",
    )
    entry_key = NulFreeCharField(
        label="Entry key",
        required=False,
        max_length=200,
        help_text="A property of the event (order_id): one entry per value. Empty: none.",
    )
    segment = forms.ChoiceField(label="Segment", choices=(), required=False)
    on = forms.ChoiceField(
        label="When someone",
        choices=(("entry", "joins it"), ("exit", "leaves it")),
        required=False,
    )
    trait = NulFreeCharField(
        label="The trait holding the date",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"list": "trigger-traits", "placeholder": "birthday"}),
    )
    at = forms.TimeField(
        label="At (site's time)",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    yearly = forms.BooleanField(label="Every year (birthdays)", required=False)
    start = forms.DateTimeField(
        label="Send at",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        help_text="Empty: as soon as the journey is active.",
    )
    repeat = forms.ChoiceField(
        label="Repeat",
        choices=(("none", "No"), ("weekly", "Every week"), ("monthly", "Every month")),
        required=False,
    )

    def __init__(
        self, *args: Any, stored: Mapping[str, Any], catalog: BuilderCatalog, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.stored = dict(stored)
        self.catalog = catalog
        self.fields["activity"].choices = activity_choices(catalog)  # type: ignore[attr-defined]
        self.fields["sources"].choices = [(c.value, c.label) for c in catalog.sources]  # type: ignore[attr-defined]
        self.fields["segment"].choices = [  # type: ignore[attr-defined]
            ("", "Choose a segment…"),
            *[(c.value, c.label) for c in catalog.segments],
        ]
        self.where = list(self.stored.get("where") or [])
        if not self.is_bound:
            self.initial.update(self.from_trigger(self.stored))

    @staticmethod
    def from_trigger(trigger: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "kind": trigger.get("kind") or "activity",
            "activity": activity_key(trigger.get("activity")),
            "sources": [str(s) for s in trigger.get("sources") or []],
            "entry_key": trigger.get("entry_key", ""),
            "segment": str(trigger.get("segment") or ""),
            "on": trigger.get("on") or "entry",
            "trait": trigger.get("trait", ""),
            "at": trigger.get("at") or "09:00",
            "yearly": bool(trigger.get("yearly")),
            "start": (str(trigger.get("start"))[:16] or None) if trigger.get("start") else None,
            "repeat": trigger.get("repeat") or "none",
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind")
        if kind == "activity":
            self._read_filters(self)
            if not activity_selector(cleaned.get("activity") or ""):
                self.add_error("activity", "Choose the activity that lets people in.")
        elif kind in ("segment", "broadcast"):
            if not cleaned.get("segment"):
                self.add_error("segment", "Choose the segment.")
            if (
                kind == "broadcast"
                and cleaned.get("repeat") not in ("", "none")
                and not cleaned.get("start")
            ):
                self.add_error("start", "A recurring broadcast needs its first date.")
        elif kind == "date" and not cleaned.get("trait"):
            self.add_error("trait", "Choose the trait that holds the date.")
        return cleaned

    def trigger(self) -> dict[str, Any]:
        data = self.cleaned_data
        match data["kind"]:
            case "activity":
                return {
                    "kind": "activity",
                    "activity": activity_selector(data["activity"]),
                    "where": self.where,
                    "sources": [int(s) for s in data.get("sources") or []],
                    "entry_key": str(data.get("entry_key") or "").strip(),
                }
            case "segment":
                return {
                    "kind": "segment",
                    "segment": int(data["segment"]),
                    "on": data["on"] or "entry",
                }
            case "date":
                at = data.get("at")
                return {
                    "kind": "date",
                    "trait": data["trait"],
                    "at": at.strftime("%H:%M") if at else "09:00",
                    "yearly": bool(data.get("yearly")),
                }
        start = data.get("start")
        return {
            "kind": "broadcast",
            "segment": int(data["segment"]),
            "start": start.isoformat() if start else "",
            "repeat": data.get("repeat") or "none",
        }


# --- the journey's settings ---------------------------------------------------------------


class JourneySettingsForm(CampaignForm):
    """The built-ins' settings a journey shares (audience, re-entry, caps, quiet hours,
    control group), with its exit rules and goal, which live in its definition."""

    wait_value = None  # type: ignore[assignment]
    wait_unit = None  # type: ignore[assignment]
    webhook_url = None  # type: ignore[assignment]
    exit_on = forms.MultipleChoiceField(
        label="Exit when the person does",
        required=False,
        choices=(),
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text="Takes them out wherever they are in the journey.",
    )
    goal = forms.ChoiceField(label="Goal", required=False, choices=())
    goal_days = forms.IntegerField(label="within (days of entry)", min_value=1, max_value=90)

    class Meta(CampaignForm.Meta):
        fields = (
            "name",
            "audience",
            "reentry",
            "reentry_days",
            "cap_count",
            "cap_hours",
            "quiet_start",
            "quiet_end",
            "quiet_in_profile_zone",
            "control_percent",
            "conversion_days",  # kept as the goal's days (`values`)
        )
        labels = {**CampaignForm.Meta.labels, "reentry_days": "Days before re-entry"}
        help_texts = {
            **CampaignForm.Meta.help_texts,
            "reentry_days": "For “Once per a number of days”.",
        }

    def __init__(
        self, *args: Any, draft: Mapping[str, Any], catalog: BuilderCatalog, **kwargs: Any
    ) -> None:
        self.draft = draft
        super().__init__(*args, **kwargs)
        choices = activity_choices(catalog)[1:]
        self.fields["exit_on"].choices = choices  # type: ignore[attr-defined]
        self.fields["goal"].choices = [("", "No goal"), *choices]  # type: ignore[attr-defined]
        self.fields["conversion_days"] = forms.IntegerField(
            required=False, widget=forms.HiddenInput
        )
        self.fields["reentry_days"].widget.attrs.update(min=1, max=3650)
        if not self.is_bound:
            goal = draft.get("goal") if isinstance(draft.get("goal"), Mapping) else None
            self.initial["exit_on"] = [activity_key(a) for a in draft.get("exit_on") or []]
            self.initial["goal"] = activity_key(goal.get("activity")) if goal else ""
            self.initial["goal_days"] = (
                goal.get("days", 3) if goal else self.instance.conversion_days
            )

    def clean_conversion_days(self) -> int:
        return self.instance.conversion_days

    def clean_reentry_days(self) -> int:
        value = int(self.cleaned_data["reentry_days"])
        if not 1 <= value <= 3650:
            raise ValidationError("Between 1 and 3,650 days.")
        return value

    def values(self) -> dict[str, Any]:
        fields = {name: self.cleaned_data[name] for name in self.Meta.fields}
        fields["conversion_days"] = self.cleaned_data["goal_days"]
        return fields

    def draft_changed(self) -> dict[str, Any]:
        draft = dict(self.draft)
        draft["exit_on"] = [activity_selector(k) for k in self.cleaned_data["exit_on"]]
        goal = self.cleaned_data.get("goal")
        draft["goal"] = (
            {"activity": activity_selector(goal), "days": self.cleaned_data["goal_days"]}
            if goal
            else None
        )
        return draft
