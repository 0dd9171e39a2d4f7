"""Reads for the campaign pages: the list with each campaign's recent numbers, a campaign's
statistics and recent enrollments, and the Outbox of every message the app sent.

Counts come from a few grouped queries over enrollments (served by `enrollment_campaign_log`,
campaign and creation time), never a query per campaign or per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from campaigns.models import Campaign, EmailSuppression, Enrollment, Message
from cdp_project.core.cursors import time_id_parse, time_id_token
from ingestion.models import CommerceRole

LIST_DAYS = 30
STATS_PERIODS = (7, 30, 90)
RECENT_ENROLLMENTS = 50
OUTBOX_PAGE_SIZE = 50
# A test send carries this header, so the Outbox and the receiving inbox can tell it apart.
TEST_HEADER = "X-CDP-Test"

State = Enrollment.State


def duration_words(seconds: int) -> str:
    """A wait in the marketer's words: "at once", "45 minutes", "1 hour 30 minutes"."""
    if seconds <= 0:
        return "at once"
    parts = []
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second")):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts[:2])


def role_labels(roles: list[str]) -> list[str]:
    """Commerce roles as the catalog names them ("Order completed")."""
    return [CommerceRole(r).label if r in CommerceRole.values else r for r in roles]


# --- the list --------------------------------------------------------------------------------


@dataclass
class ListCounts:
    enrolled: int = 0
    waiting: int = 0
    sent: int = 0
    suppressed: int = 0
    failed: int = 0
    exited: int = 0
    control: int = 0


@dataclass(frozen=True)
class CampaignRow:
    """One line of the campaign list: the campaign, its counts over the list's period, and
    its wait in words."""

    campaign: Campaign
    counts: ListCounts
    wait_text: str


def campaign_list(*, days: int = LIST_DAYS) -> list[CampaignRow]:
    """Every campaign with its counts over the enrollments of the last `days` days: two
    queries whatever the number of campaigns."""
    campaigns = list(Campaign.objects.select_related("audience", "version").order_by("name", "id"))
    since = timezone.now() - timedelta(days=days)
    counts: dict[int, ListCounts] = {c.pk: ListCounts() for c in campaigns}
    rows = (
        Enrollment.objects.filter(created_at__gte=since)
        .values("campaign_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        found = counts.get(row["campaign_id"])
        if found is None:
            continue
        found.enrolled += row["n"]
        if row["state"] == State.PENDING:
            found.waiting += row["n"]
        elif row["state"] == State.SENT:
            found.sent += row["n"]
        elif row["state"] == State.SUPPRESSED:
            found.suppressed += row["n"]
        elif row["state"] == State.FAILED:
            found.failed += row["n"]
        elif row["state"] == State.EXITED:
            found.exited += row["n"]
        elif row["state"] == State.CONTROL:
            found.control += row["n"]
    return [
        CampaignRow(campaign, counts[campaign.pk], duration_words(campaign.wait_seconds))
        for campaign in campaigns
    ]


# --- one campaign ----------------------------------------------------------------------------


@dataclass
class CampaignStats:
    """What became of the people who entered a campaign in a period."""

    days: int
    enrolled: int = 0
    waiting: int = 0
    sending: int = 0
    exited: int = 0
    suppressed: int = 0
    control: int = 0
    sent: int = 0
    failed: int = 0
    # (reason, count), most frequent first.
    suppressed_reasons: list[tuple[str, int]] = field(default_factory=list)
    exited_reasons: list[tuple[str, int]] = field(default_factory=list)
    failed_reasons: list[tuple[str, int]] = field(default_factory=list)


def campaign_stats(*, campaign: Campaign, days: int = LIST_DAYS) -> CampaignStats:
    """Enrolled, exited before sending, not sent (by reason), control, sent and failed, for
    the enrollments created in the last `days` days: one grouped query."""
    since = timezone.now() - timedelta(days=days)
    stats = CampaignStats(days=days)
    rows = (
        Enrollment.objects.filter(campaign=campaign, created_at__gte=since)
        .values("state", "reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    reasons: dict[str, dict[str, int]] = {State.SUPPRESSED: {}, State.EXITED: {}, State.FAILED: {}}
    for row in rows:
        state, n = row["state"], row["n"]
        stats.enrolled += n
        attributes: dict[str, str] = {
            State.PENDING: "waiting",
            State.SENDING: "sending",
            State.EXITED: "exited",
            State.SUPPRESSED: "suppressed",
            State.CONTROL: "control",
            State.SENT: "sent",
            State.FAILED: "failed",
        }
        attribute = attributes.get(state)
        if attribute:
            setattr(stats, attribute, getattr(stats, attribute) + n)
        if state in reasons:
            reason = row["reason"] or "no reason recorded"
            reasons[state][reason] = reasons[state].get(reason, 0) + n

    def ranked(found: dict[str, int]) -> list[tuple[str, int]]:
        return sorted(found.items(), key=lambda item: (-item[1], item[0]))

    stats.suppressed_reasons = ranked(reasons[State.SUPPRESSED])
    stats.exited_reasons = ranked(reasons[State.EXITED])
    stats.failed_reasons = ranked(reasons[State.FAILED])
    return stats


def recent_enrollments(*, campaign: Campaign, limit: int = RECENT_ENROLLMENTS) -> list[Enrollment]:
    """The campaign's latest enrollments with their person and message, newest first (the
    campaign's log; `enrollment_campaign_log`)."""
    return list(
        Enrollment.objects.filter(campaign=campaign)
        .select_related("profile")
        .prefetch_related(
            Prefetch(
                "messages",
                queryset=Message.objects.only("id", "status", "enrollment_id").order_by("-id"),
            )
        )
        .only(
            "campaign_id",
            "node",
            "state",
            "reason",
            "trigger_at",
            "due_at",
            "created_at",
            "updated_at",
            "profile__id",
            "profile__name",
            "profile__email",
            "profile__user_id",
        )
        .order_by("-created_at", "-id")[:limit]
    )


# --- the Outbox ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageCursor:
    """Where a page of the Outbox ends: the last message's (created at, id)."""

    created_at: datetime
    pk: int

    def token(self) -> str:
        return time_id_token(self.created_at, self.pk)

    @classmethod
    def parse(cls, token: str | None) -> MessageCursor | None:
        parsed = time_id_parse(token)
        return cls(*parsed) if parsed else None


@dataclass(frozen=True)
class MessageRow:
    """A message and what is shown beside it: whether it was a test send."""

    message: Message
    is_test: bool


@dataclass
class OutboxPage:
    messages: list[MessageRow]
    next_cursor: MessageCursor | None


OUTBOX_KINDS = (("", "All messages"), ("test", "Test sends only"), ("real", "No test sends"))


def outbox_page(
    *,
    campaign_id: int | None = None,
    status: str = "",
    kind: str = "",
    to: str = "",
    before: MessageCursor | None = None,
    limit: int = OUTBOX_PAGE_SIZE,
) -> OutboxPage:
    """Messages newest first, keyset-paged on (created_at, id) (`message_outbox`), without
    their bodies, each with whether it was a test send. `to` keeps the messages whose
    recipient starts with it (an address, or its start; `message_recipient`)."""
    messages = Message.objects.select_related("campaign", "profile").defer(
        "html",
        "text",
        "profile__traits",
        "profile__trait_times",
        "profile__preferences",
        "profile__last_viewed",
    )
    if campaign_id is not None:
        messages = messages.filter(campaign_id=campaign_id)
    if status in Message.Status.values:
        messages = messages.filter(status=status)
    if to := to.replace("\x00", "").strip()[:320]:
        # Addresses are kept in lower case; a webhook's address as written.
        messages = messages.filter(
            Q(recipient__startswith=to) | Q(recipient__startswith=to.lower())
        )
    if kind == "test":
        messages = messages.filter(headers__has_key=TEST_HEADER)
    elif kind == "real":
        messages = messages.exclude(headers__has_key=TEST_HEADER)
    if before is not None:
        messages = messages.filter(created_at__lte=before.created_at).filter(
            Q(created_at__lt=before.created_at) | Q(pk__lt=before.pk)
        )
    found = list(messages.order_by("-created_at", "-id")[: limit + 1])
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if found and more else None
    return OutboxPage(
        messages=[MessageRow(message, message_is_test(message)) for message in found],
        next_cursor=MessageCursor(last.created_at, last.pk) if last else None,
    )


def message_is_test(message: Message) -> bool:
    return isinstance(message.headers, dict) and TEST_HEADER in message.headers


def message_get(*, pk: int) -> MessageRow | None:
    """One message with its campaign, person and enrollment (the reason it was sent)."""
    message = (
        Message.objects.select_related("campaign", "profile", "enrollment").filter(pk=pk).first()
    )
    return MessageRow(message, message_is_test(message)) if message is not None else None


def email_suppression_reason(address: str, *, transactional: bool) -> str:
    """Why no message may go to this address now, or ""."""
    suppression = EmailSuppression.objects.filter(address=address.strip().lower()).first()
    return suppression_reason(suppression, transactional=transactional)


def suppression_reason(suppression: EmailSuppression | None, *, transactional: bool) -> str:
    """Why a reported address may get no message now, or "" (none reported, or a complaint
    and a transactional message)."""
    if suppression is None or (transactional and not suppression.blocks_transactional):
        return ""
    by = f" (reported by {suppression.esp})" if suppression.esp else ""
    return f"address suppressed: {suppression.get_reason_display().lower()}{by}"
