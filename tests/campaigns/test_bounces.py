"""The email provider reports bounces and complaints through its tracking webhook (Postmark's
and Mailgun's formats here, through django-anymail): the address stops getting what it must
not, and the person's page says why."""

from __future__ import annotations

import base64
import json

import pytest
from django.core import mail

from campaigns.models import EmailSuppression, Enrollment
from profiles.models import ConsentChange, Profile
from tests.campaigns.conftest import added, identify, later, ordered, run, send

pytestmark = pytest.mark.django_db

SECRET = "esp:s3cret-hook"
POSTMARK = "/campaigns/esp/postmark/tracking/"


@pytest.fixture
def webhook_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


def report(client, payload: dict, *, path: str = POSTMARK, auth: str = SECRET):
    return client.post(
        path,
        data=json.dumps(payload),
        content_type="application/json",
        headers={"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()},
    )


def postmark_bounce(email: str, kind: str = "HardBounce") -> dict:
    return {
        "RecordType": "Bounce",
        "Type": kind,
        "Email": email,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "BouncedAt": "2026-11-20T11:00:00Z",
    }


def test_without_a_secret_the_webhook_is_off(client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": ""}
    response = report(client, postmark_bounce("ann@example.com"))
    assert response.status_code == 403
    assert response.json()["code"] == "webhook_secret_missing"
    assert not EmailSuppression.objects.exists()


def test_a_wrong_secret_is_refused(client, webhook_secret):
    response = report(client, postmark_bounce("ann@example.com"), auth="esp:guess")
    assert response.status_code == 400
    assert not EmailSuppression.objects.exists()


def test_a_hard_bounce_stops_every_email_to_the_address(
    client, ingest, clock, campaigns, webhook_secret
):
    assert report(client, postmark_bounce("Ann@Example.com")).status_code == 200
    suppression = EmailSuppression.objects.get()
    assert suppression.address == "ann@example.com"
    assert suppression.reason == "bounced" and suppression.esp == "Postmark"
    assert "550 5.1.1" in suppression.detail

    send(ingest, identify("ann"), added("ann", "A", name="Boot", price=90))
    send(ingest, ordered("ann", "O-1", {"sku": "A", "name": "Boot", "price": 90, "quantity": 1}))
    later(clock, hours=2)
    run()
    assert mail.outbox == []
    reasons = set(Enrollment.objects.values_list("state", "reason"))
    # The order exits the cart reminder; the confirmation finds the address bounced.
    assert ("suppressed", "address suppressed: bounced (reported by Postmark)") in reasons


def test_a_spam_complaint_withdraws_consent_but_order_confirmations_still_go(
    client, ingest, clock, campaigns, webhook_secret
):
    send(ingest, identify("bea"))
    complaint = {
        "RecordType": "SpamComplaint",
        "Type": "SpamComplaint",
        "Email": "bea@example.com",
        "BouncedAt": "2026-11-20T11:00:00Z",
    }
    assert report(client, complaint).status_code == 200
    assert EmailSuppression.objects.get().reason == "complained"
    profile = Profile.objects.get(user_id="bea")
    assert profile.email_consent == "withdrawn"
    change = ConsentChange.objects.get(profile=profile, state="withdrawn")
    assert change.how.startswith("Marked a message as spam (reported by Postmark)")

    send(ingest, added("bea", "A", name="Boot", price=90))
    later(clock, hours=2)
    run()
    cart = Enrollment.objects.get(campaign__kind="abandoned_cart")
    assert cart.state == "suppressed"
    assert cart.reason == "address suppressed: marked as spam (reported by Postmark)"
    send(ingest, ordered("bea", "O-2", {"sku": "A", "name": "Boot", "price": 90, "quantity": 1}))
    run()
    [confirmation] = mail.outbox
    assert confirmation.to == ["bea@example.com"]


def test_a_later_complaint_does_not_weaken_a_bounce(client, webhook_secret):
    report(client, postmark_bounce("cy@example.com"))
    report(
        client,
        {"RecordType": "SpamComplaint", "Type": "SpamComplaint", "Email": "cy@example.com"},
    )
    assert EmailSuppression.objects.get().reason == "bounced"


def test_deliveries_and_opens_change_nothing(client, webhook_secret):
    report(
        client,
        {"RecordType": "Delivery", "Recipient": "dee@example.com", "MessageID": "x"},
    )
    assert not EmailSuppression.objects.exists()
