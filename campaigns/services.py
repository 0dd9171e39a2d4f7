"""Writes of the campaign pages: saving a campaign's settings, activating and pausing it, and
the test send of its message to an address the marketer types.

The rules that decide who gets a message live in `campaigns.engine`; these functions only
change what a marketer can change and send what a marketer asks to see.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from campaigns import channels, engine
from campaigns.journeys.services import journey_problems
from campaigns.models import Campaign, Message
from campaigns.selectors import TEST_HEADER
from cdp_project.access.actors import Actor
from cdp_project.access.audit import action, audit_write
from profiles.models import Profile

logger = logging.getLogger(__name__)

# What a marketer may change; kind, trigger, exits and transactional are the campaign's nature.
EDITABLE_FIELDS = (
    "name",
    "wait_seconds",
    "audience",
    "channel",
    "webhook_url",
    "sender_name",
    "sender_email",
    "subject_template",
    "html_template",
    "text_template",
    "cap_count",
    "cap_hours",
    "reentry",
    "reentry_days",
    "quiet_start",
    "quiet_end",
    "quiet_in_profile_zone",
    "control_percent",
    "conversion_days",
)


class CampaignNotReady(Exception):
    """A campaign that cannot be activated yet, with what is missing."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@action
def campaign_update(
    *, actor: Actor, campaign: Campaign, values: dict[str, Any], summary: str = ""
) -> Campaign:
    """Save a campaign's settings (validated by the editor's form). Waiting enrollments keep
    their due time; the new settings apply to what is decided from now on. `summary` says
    what changed, for the audit log (by default, the fields given)."""
    changed = [name for name in EDITABLE_FIELDS if name in values]
    once_from_now = (
        values.get("reentry", campaign.reentry) == Campaign.Reentry.ONCE
        and campaign.reentry != Campaign.Reentry.ONCE
    )
    for name in changed:
        setattr(campaign, name, values[name])
    campaign.updated_at = timezone.now()
    campaign.save(update_fields=[*changed, "updated_at"])
    if once_from_now:
        engine.enrollments_mark_once(campaign=campaign)
    audit_write(
        actor=actor,
        action="campaign.update",
        obj=campaign,
        summary=f"Saved “{campaign.name}”: " + (summary or ", ".join(sorted(changed))),
    )
    logger.info("campaign_updated campaign_id=%s fields=%s", campaign.pk, ",".join(changed))
    return campaign


def campaign_problems(campaign: Campaign) -> list[str]:
    """What keeps a campaign from being activated, in the marketer's words."""
    if campaign.is_journey:
        if campaign.version is None:
            return ["Publish the journey first: it has no version to run."]
        # Checked when published; what the database holds may have changed since (a
        # segment deleted).
        return journey_problems(campaign.version.definition)
    problems = []
    if campaign.channel == Campaign.Channel.EMAIL:
        if not campaign.subject_template.strip():
            problems.append("The email needs a subject.")
        if not (campaign.html_template.strip() or campaign.text_template.strip()):
            problems.append("The email needs an HTML or a text body.")
    elif not campaign.webhook_url:
        problems.append("The webhook channel needs the address to post to.")
    return problems


@action
def campaign_status_set(*, actor: Actor, campaign: Campaign, status: str) -> Campaign:
    """Activate, pause or return a campaign to draft.

    Activating checks the campaign can send (raises CampaignNotReady). Pausing enrolls
    nobody new; people already waiting wait for the campaign's return."""
    if status not in Campaign.Status.values:
        raise ValueError(f"unknown status {status!r}")
    if status == Campaign.Status.ACTIVE:
        problems = campaign_problems(campaign)
        if problems:
            raise CampaignNotReady(problems)
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    locked.status = status
    locked.updated_at = timezone.now()
    locked.save(update_fields=["status", "updated_at"])
    campaign.status, campaign.updated_at = locked.status, locked.updated_at
    audit_write(
        actor=actor,
        action="campaign.status",
        obj=campaign,
        summary=f"Set “{campaign.name}” {Campaign.Status(status).label.lower()}",
    )
    logger.info("campaign_status_set campaign_id=%s status=%s", campaign.pk, status)
    return campaign


def _inert_unsubscribe(message: Message) -> None:
    """A test send must not unsubscribe the person it was rendered for: its unsubscribe link
    and headers lead to a page that says the link is not valid."""
    header = message.headers.get("List-Unsubscribe", "")
    real = header.strip("<>")
    if not real:
        return
    inert = settings.CAMPAIGNS_SITE_URL.rstrip("/") + "/campaigns/unsubscribe/test-send/"
    message.html = message.html.replace(real, inert)
    message.text = message.text.replace(real, inert)
    message.headers["List-Unsubscribe"] = f"<{inert}>"


@action
def campaign_test_send(
    *, actor: Actor, campaign: Campaign, profile: Profile, address: str
) -> Message:
    """Render the campaign's message for `profile` and email it to `address` through the
    configured email backend, whatever the campaign's channel.

    The message is recorded in the Outbox like any other, marked as a test (the X-CDP-Test
    header), with no person and no enrollment: it counts towards no cap and unsubscribes
    nobody. It is recorded before the backend is called; if the process dies in between,
    the engine's delivery picks it up after the lease, as for any message."""
    audit_write(
        actor=actor,
        action="campaign.test_send",
        obj=campaign,
        summary=f"Test of “{campaign.name}” for profile #{profile.pk} to {address}",
    )
    now = timezone.now()
    message = engine.campaign_preview(campaign, profile)
    message.profile = None
    # Whose data the test holds: exported and deleted with that person.
    message.rendered_for = profile
    message.enrollment = None
    message.channel = Campaign.Channel.EMAIL
    message.recipient = address
    send = engine.first_send(campaign)
    message.sender = channels.sender_of(send.sender_name, send.sender_email)
    message.headers = {**message.headers, TEST_HEADER: "true"}
    message.created_at = now
    _inert_unsubscribe(message)
    if message.status == Message.Status.FAILED:
        message.save()
        logger.info("campaign_test_send_failed campaign_id=%s template error", campaign.pk)
        return message
    message.attempts = 1
    message.next_attempt_at = now + timedelta(seconds=float(settings.CAMPAIGNS_RETRY_SECONDS))
    message.save()
    try:
        channels.deliver(message)
    except channels.ChannelError as exc:
        message.status = Message.Status.FAILED
        message.error = str(exc)[:2000]
        message.next_attempt_at = None
        Message.objects.filter(pk=message.pk).update(
            status=message.status, error=message.error, next_attempt_at=None
        )
        logger.warning("campaign_test_send_failed campaign_id=%s: %s", campaign.pk, exc)
        return message
    message.status = Message.Status.SENT
    message.sent_at = timezone.now()
    message.next_attempt_at = None
    Message.objects.filter(pk=message.pk).update(
        status=message.status, sent_at=message.sent_at, error="", next_attempt_at=None
    )
    logger.info("campaign_test_sent campaign_id=%s message_id=%s", campaign.pk, message.pk)
    return message
