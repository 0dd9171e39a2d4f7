from __future__ import annotations

from urllib.parse import urlsplit

from django import forms

from ingestion.models import Source


class SourceForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=Source.Kind.choices, initial=Source.Kind.SERVER)
    enabled = forms.BooleanField(required=False, initial=True)
    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://shop.example.com"}),
        help_text="Browser origins allowed to send with this source's keys, one per line. "
        "Leave empty to accept any origin.",
    )

    retention_days = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=36_500,
        label="Keep events for (days)",
        help_text="Events older than this are deleted every night. 0 keeps them for ever; "
        "empty follows the site's setting (EVENT_RETENTION_DAYS).",
    )

    def __init__(self, *args, instance: Source | None = None, **kwargs) -> None:
        self.instance = instance
        super().__init__(*args, **kwargs)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        others = Source.objects.filter(name__iexact=name)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError("A source with this name already exists.")
        return name

    def clean_allowed_origins(self) -> list[str]:
        origins = []
        for line in self.cleaned_data["allowed_origins"].splitlines():
            origin = line.strip().rstrip("/")
            if not origin:
                continue
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise forms.ValidationError(
                    f"{origin!r} is not an origin: write it as https://host[:port]."
                )
            origins.append(origin)
        return origins


class NewSourceForm(SourceForm):
    # A new source starts enabled. Django removes a parent's field set to None; the stubs
    # type the attribute as the field.
    enabled = None  # type: ignore[assignment]
    retention_days = None  # type: ignore[assignment]
