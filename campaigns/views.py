"""The unsubscribe page every marketing email links to (no login: the signed token is the
person's key).

GET shows a confirmation button, so a mail scanner following links unsubscribes nobody;
POST withdraws the person's email consent. Mail clients send the RFC 8058 one-click POST
(`List-Unsubscribe=One-Click`) to the same address, without a CSRF token.
"""

from __future__ import annotations

from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns.engine import UNSUBSCRIBE_SALT
from profiles.models import Consent, Profile
from profiles.services import profile_consent_set


def _profile_for(token: str) -> Profile | None:
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    profile = Profile.objects.filter(pk=data.get("p")).first()
    if profile is None and data.get("e"):
        # Merged since the email was sent: the address leads to the person now.
        profile = Profile.objects.filter(email=data["e"]).order_by("pk").first()
    return profile


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    profile = _profile_for(token)
    if profile is None:
        return render(request, "campaigns/unsubscribe.html", {"state": "invalid"}, status=404)
    if request.method == "POST":
        if profile.email_consent != Consent.WITHDRAWN:
            with transaction.atomic():
                profile_consent_set(
                    profile=profile,
                    channel="email",
                    state=Consent.WITHDRAWN,
                    author=None,
                    how="Unsubscribe link in a campaign email",
                )
        return render(request, "campaigns/unsubscribe.html", {"state": "done"})
    return render(request, "campaigns/unsubscribe.html", {"state": "confirm", "token": token})
