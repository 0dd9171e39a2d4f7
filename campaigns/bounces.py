"""Bounces and complaints from the email provider: what its tracking webhook reports stops
email to the address (django-anymail normalises each provider's webhook into one signal).

- bounced or refused by the provider: no email at all to the address, order confirmations
  included, since none would arrive;
- marked as spam: the person's email consent is withdrawn and no marketing goes to the
  address; order confirmations still do;
- unsubscribed at the provider: the person's email consent is withdrawn, as with our own link.

The webhooks are at `/campaigns/esp/<provider>/tracking/` (Postmark, Mailgun, Amazon SES,
Brevo, SparkPost, …, as anymail names them) behind HTTP Basic auth with
`ANYMAIL_WEBHOOK_SECRET`; without a secret they answer 403, since anyone could otherwise stop
mail to any address.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from anymail import urls as anymail_urls
from anymail.signals import AnymailTrackingEvent, EventType
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern
from django.utils import timezone

from campaigns.models import EmailSuppression
from cdp_project.access.actors import Actor
from profiles.models import Consent, Profile
from profiles.services import profile_consent_set

logger = logging.getLogger(__name__)

Reason = EmailSuppression.Reason
SUPPRESSING = {
    EventType.BOUNCED: Reason.BOUNCED,
    EventType.REJECTED: Reason.REJECTED,
    EventType.COMPLAINED: Reason.COMPLAINED,
}
# A stronger reason replaces a weaker one, never the other way round.
STRENGTH: dict[str, int] = {Reason.COMPLAINED: 1, Reason.REJECTED: 2, Reason.BOUNCED: 2}


def esp_event_record(
    sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any
) -> None:
    """The receiver of anymail's tracking signal."""
    address = (event.recipient or "").strip().lower()
    if not address:
        return
    if event.event_type in (EventType.COMPLAINED, EventType.UNSUBSCRIBED):
        _withdraw_consent(address, esp_name, event.event_type)
    reason = SUPPRESSING.get(event.event_type)
    if reason is None:
        return
    detail = " · ".join(
        str(part) for part in (event.reject_reason, event.description, event.mta_response) if part
    )[:2000]
    with transaction.atomic():
        current = EmailSuppression.objects.select_for_update().filter(address=address).first()
        if current is not None and STRENGTH[current.reason] > STRENGTH[reason]:
            return
        EmailSuppression.objects.update_or_create(
            address=address,
            defaults={
                "reason": reason,
                "esp": esp_name,
                "detail": detail,
                "at": event.timestamp or timezone.now(),
            },
        )
    logger.info("email_suppressed reason=%s esp=%s", reason, esp_name)


def _withdraw_consent(address: str, esp_name: str, event_type: str) -> None:
    how = (
        f"Marked a message as spam (reported by {esp_name})"
        if event_type == EventType.COMPLAINED
        else f"Unsubscribed at the email provider ({esp_name})"
    )
    for profile in Profile.objects.filter(email__iexact=address).exclude(
        email_consent=Consent.WITHDRAWN
    ):
        profile_consent_set(
            actor=Actor.system(f"esp_webhook:{esp_name}"),
            profile=profile,
            channel="email",
            state=Consent.WITHDRAWN,
            how=how,
        )


def _secret_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
            return JsonResponse(
                {
                    "code": "webhook_secret_missing",
                    "message": "Set ANYMAIL_WEBHOOK_SECRET to receive the email provider's "
                    "tracking webhooks.",
                },
                status=403,
            )
        return view(request, *args, **kwargs)

    return guarded


def esp_tracking_urls() -> list[URLPattern]:
    """anymail's tracking webhooks, each refusing to run without a secret."""
    return [
        URLPattern(pattern.pattern, _secret_required(pattern.callback), name=pattern.name)
        for pattern in anymail_urls.urlpatterns
        if isinstance(pattern, URLPattern) and "tracking" in (pattern.name or "")
    ]
