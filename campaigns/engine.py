"""The campaign engine: enrollments from events, and the due work beat runs.

`campaigns_enroll` is an ingest processor (last in INGEST_EVENT_PROCESSORS): per batch it
exits waiting enrollments whose exit events arrived, and creates enrollments for trigger
events, due at the event's time plus the campaign's wait. Nothing is scheduled on the broker.

`campaigns_run_due`, run by Celery beat every CAMPAIGNS_TICK_SECONDS, claims due enrollments
in small batches (profiles, then enrollments, locked with SKIP LOCKED, so several workers
share the work and never wait for each other), checks every rule again, renders the message
and records it as claimed in the same transaction. Only after commit is the channel called;
a success marks it sent, a failure is retried with backoff and ends failed with the error
kept. docs/campaigns.md tells the rules in the marketer's words.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from campaigns import channels, content, rendering
from campaigns.models import Campaign, Enrollment, Message
from campaigns.selectors import email_suppression_reason
from cdp_project.core.publish import task_publish_on_commit
from ingestion.models import CommerceRole, Event
from profiles.computed.activities import activity_meanings
from profiles.identity import profiles_lock
from profiles.models import Consent, Profile
from segments.compiler import segment_q

logger = logging.getLogger(__name__)

State = Enrollment.State
UNSUBSCRIBE_SALT = "campaigns.unsubscribe"
CLAIM_BATCH = 50


# --- Reasons a marketer reads ----------------------------------------------------------------


class Reason:
    NO_EMAIL = "no email"
    NO_CONSENT = "no consent"
    NOT_IN_AUDIENCE = "not in the audience"
    AUDIENCE_BROKEN = "the audience could not be checked"
    CAPPED = "capped: this campaign's limit per person"
    CAPPED_MARKETING = "capped: the daily limit across marketing campaigns"
    CONTROL = "control group"
    CART_PENDING = "stood down: a cart reminder is waiting or was sent"
    CART_EMPTY = "the cart is empty: everything added was removed"
    PROFILE_GONE = "the person was deleted"
    MERGED = "already waiting on the merged profile"

    @staticmethod
    def exited(role: str) -> str:
        label = CommerceRole(role).label.lower() if role in CommerceRole.values else role
        return f"converted: {label}"


# --- Enrollment ------------------------------------------------------------------------------


def _max_age() -> timedelta:
    return timedelta(hours=float(settings.CAMPAIGNS_MAX_EVENT_AGE_HOURS))


def profile_of(event: Event) -> int:
    """The profile of an event the engine decides on: `campaigns_enroll` and the dry run
    take only events tied to a profile."""
    return cast(int, event.profile_id)


def campaigns_enroll(events: Sequence[Event]) -> None:
    """The ingest processor: exits, then new enrollments, for a batch of stored events."""
    events = [e for e in events if e.profile_id is not None and e.type == "track"]
    if not events:
        return
    campaigns = list(Campaign.objects.filter(status=Campaign.Status.ACTIVE))
    if not campaigns:
        return
    meanings = activity_meanings(events)
    roled = []
    for event in sorted(events, key=lambda e: (e.timestamp, e.pk)):
        meaning = meanings.get(("track", event.name))
        if meaning and meaning.role:
            roled.append((event, meaning.role))
    if not roled:
        return
    # The batch's people, in the order every writer of profiles locks them, so that a merge
    # cannot move enrollments while they are decided.
    profiles_lock(profile_ids={profile_of(event) for event, _ in roled})
    _exits(campaigns, roled)
    created = _enrollments(campaigns, roled)
    # Exits again: a purchase later in the same batch exits what this batch created.
    _exits(campaigns, roled)
    if created and any(c.wait_seconds == 0 for c in campaigns):
        # Run due work now (an order confirmation is due at once); beat runs it anyway
        # within CAMPAIGNS_TICK_SECONDS should publishing fail.
        task_publish_on_commit("campaigns.run_due")


def _exits(campaigns: list[Campaign], roled: list[tuple[Event, str]]) -> None:
    for campaign in campaigns:
        if not campaign.exit_roles:
            continue
        latest: dict[int, tuple[datetime, str]] = {}
        for event, role in roled:
            if role in campaign.exit_roles:
                latest[profile_of(event)] = (event.timestamp, role)
        for profile_id, (at, role) in latest.items():
            Enrollment.objects.filter(
                campaign=campaign, profile_id=profile_id, state=State.PENDING, trigger_at__lte=at
            ).update(state=State.EXITED, reason=Reason.exited(role), updated_at=timezone.now())


def _enrollments(campaigns: list[Campaign], roled: list[tuple[Event, str]]) -> int:
    now = timezone.now()
    oldest = now - _max_age()
    new: list[Enrollment] = []
    for campaign in campaigns:
        triggers = [
            event
            for event, role in roled
            if role == campaign.trigger_role and event.timestamp >= oldest
        ]
        if not triggers:
            continue
        once = campaign.reentry == Campaign.Reentry.ONCE
        pending_only = campaign.reentry == Campaign.Reentry.WHILE_PENDING
        blocked = (
            _waiting_profiles(campaign, {profile_of(e) for e in triggers})
            if pending_only
            else set()
        )
        for event in triggers:
            properties = event.properties if isinstance(event.properties, dict) else {}
            key = ""
            if campaign.trigger_role == CommerceRole.ORDER_COMPLETED:
                key = content.order_id_of(properties) or f"message:{event.message_id}"
            elif event.profile_id in blocked:
                continue
            due = event.timestamp + timedelta(seconds=campaign.wait_seconds)
            new.append(
                Enrollment(
                    campaign=campaign,
                    profile_id=profile_of(event),
                    event=event,
                    trigger={
                        "name": event.name,
                        "at": event.timestamp.isoformat(),
                        "properties": properties,
                    },
                    trigger_at=event.timestamp,
                    key=key[:255],
                    cart_id=content.cart_id_of(properties),
                    once=once and not key,
                    due_at=max(due, now) if campaign.wait_seconds == 0 else due,
                    created_at=now,
                    updated_at=now,
                )
            )
            if pending_only:
                blocked.add(profile_of(event))
    if new:
        # The database keeps what must happen once: an order id seen before (sent twice, or
        # by two sources) enrolls once (`enrollment_key_unique`), and a person who entered a
        # once-per-person campaign, now or ever, enters it no more
        # (`enrollment_once_per_person`). Their rows are skipped here.
        Enrollment.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def _waiting_profiles(campaign: Campaign, profile_ids: set[int]) -> set[int]:
    """The people waiting in this campaign now, whom "not while one is waiting" keeps out."""
    enrollments = Enrollment.objects.filter(
        campaign=campaign, profile_id__in=profile_ids, state=State.PENDING
    )
    return set(enrollments.values_list("profile_id", flat=True))


def enrollments_mark_once(*, campaign: Campaign) -> None:
    """A campaign switched to "only once per person": each person's first enrollment in it
    becomes their one entry, so the constraint keeps out those who entered before. Cleared
    first, so that no statement sees two entries of one person."""
    enrollments = Enrollment.objects.filter(campaign=campaign)
    enrollments.filter(once=True).update(once=False)
    first = (
        enrollments.order_by("profile_id", "pk").distinct("profile_id").values_list("pk", flat=True)
    )
    Enrollment.objects.filter(pk__in=list(first)).update(once=True)


def enrollments_merge(sender: Any, *, loser_id: int, survivor_id: int, **kwargs: Any) -> None:
    """Receiver of `profiles.signals.profile_merged`: the merged profile's enrollments and
    messages move to the survivor; where both wait in one campaign (not an every-time one),
    the earlier-due enrollment stays and the other exits. Where both entered a once-per-person
    campaign, the survivor's entry stays the person's one."""
    Enrollment.objects.filter(
        profile_id=loser_id,
        once=True,
        campaign_id__in=Enrollment.objects.filter(profile_id=survivor_id, once=True).values(
            "campaign_id"
        ),
    ).update(once=False)
    Enrollment.objects.filter(profile_id=loser_id).update(profile_id=survivor_id)
    Message.objects.filter(profile_id=loser_id).update(profile_id=survivor_id)
    # Test sends rendered for the merged profile are the survivor's data now.
    Message.objects.filter(rendered_for_id=loser_id).update(rendered_for_id=survivor_id)
    waiting = (
        Enrollment.objects.filter(profile_id=survivor_id, state=State.PENDING)
        .exclude(campaign__reentry=Campaign.Reentry.ALWAYS)
        .order_by("campaign_id", "due_at", "id")
    )
    kept: set[int] = set()
    duplicates = []
    for enrollment in waiting:
        if enrollment.campaign_id in kept:
            duplicates.append(enrollment.pk)
        kept.add(enrollment.campaign_id)
    if duplicates:
        Enrollment.objects.filter(pk__in=duplicates).update(
            state=State.EXITED, reason=Reason.MERGED, updated_at=timezone.now()
        )


# --- Due work ----------------------------------------------------------------------------------


@dataclass
class RunResult:
    decided: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    failed: int = 0
    retried: int = 0


def campaigns_run_due(*, batch_size: int = CLAIM_BATCH, max_batches: int = 20) -> RunResult:
    """Decide and send what is due: what beat runs every CAMPAIGNS_TICK_SECONDS."""
    result = RunResult()
    for _ in range(max_batches):
        claimed = _claim_batch(batch_size, result)
        messages_deliver(result=result)
        if claimed < batch_size:
            break
    messages_deliver(result=result)
    return result


def _claim_batch(batch_size: int, result: RunResult) -> int:
    now = timezone.now()
    with transaction.atomic():
        candidates = list(
            Enrollment.objects.filter(
                state=State.PENDING, due_at__lte=now, campaign__status=Campaign.Status.ACTIVE
            )
            .order_by("due_at", "id")
            .values_list("pk", "profile_id")[:batch_size]
        )
        if not candidates:
            return 0
        # Profiles first, as the ingest processor takes them, then their enrollments; both
        # skip what another worker holds, so nobody waits and nothing is decided twice.
        locked_profiles = list(
            Profile.objects.select_for_update(skip_locked=True, no_key=True)
            .filter(pk__in=sorted({p for _, p in candidates}))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        enrollments = list(
            Enrollment.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("campaign", "profile", "campaign__audience")
            .filter(
                pk__in=[pk for pk, _ in candidates],
                profile_id__in=locked_profiles,
                state=State.PENDING,
                due_at__lte=now,
            )
            .order_by("due_at", "id")
        )
        for enrollment in enrollments:
            outcome = _decide_and_claim(enrollment, now)
            result.decided[outcome] = result.decided.get(outcome, 0) + 1
    return len(candidates)


@dataclass(frozen=True)
class Blocker:
    """Why a due enrollment is not sent now: it ends in `state` with `reason`, or, for quiet
    hours, waits until `hold_until`."""

    state: str
    reason: str
    hold_until: datetime | None = None


def _blockers(enrollment: Enrollment, now: datetime) -> Iterator[Blocker]:
    """The rules a due enrollment is checked against, in the engine's order. Lazy: sending
    stops at the first, the preview lists them all."""
    campaign = enrollment.campaign
    profile = enrollment.profile
    if exit_reason := _exit_reason(enrollment, now):
        yield Blocker(State.EXITED, exit_reason)
    if campaign.channel == Campaign.Channel.EMAIL:
        if not profile.email:
            yield Blocker(State.SUPPRESSED, Reason.NO_EMAIL)
        elif bounced := email_suppression_reason(
            profile.email, transactional=campaign.transactional
        ):
            yield Blocker(State.SUPPRESSED, bounced)
    if campaign.is_marketing and profile.email_consent != Consent.GRANTED:
        yield Blocker(State.SUPPRESSED, Reason.NO_CONSENT)
    if audience_reason := _audience_reason(campaign, profile):
        yield Blocker(State.SUPPRESSED, audience_reason)
    if campaign.is_marketing:
        if (quiet_until := quiet_hours_end(campaign, profile, now)) is not None:
            local = timezone.localtime(quiet_until, zone_of(campaign, profile))
            yield Blocker("held", f"quiet hours: it would be held until {local:%H:%M}", quiet_until)
        if cap_reason := _cap_reason(campaign, profile, now):
            yield Blocker(State.SUPPRESSED, cap_reason)


def _decide_and_claim(enrollment: Enrollment, now: datetime) -> str:
    """Check the rules for one due enrollment; record its message or why there is none."""
    campaign = enrollment.campaign
    profile = enrollment.profile
    if campaign.status != Campaign.Status.ACTIVE:
        return "paused"  # paused since it was picked: it waits for the campaign's return
    blocker = next(_blockers(enrollment, now), None)
    if blocker is not None and blocker.hold_until is not None:
        enrollment.due_at = blocker.hold_until
        enrollment.updated_at = now
        enrollment.save(update_fields=["due_at", "updated_at"])
        return "held"
    if blocker is not None:
        return _close(enrollment, blocker.state, blocker.reason, now)
    if in_control_group(enrollment.pk, campaign.control_percent):
        return _close(enrollment, State.CONTROL, Reason.CONTROL, now)
    message = message_build(campaign, profile, enrollment=enrollment, now=now)
    if message.status == Message.Status.FAILED:
        message.save()
        return _close(enrollment, State.FAILED, message.error, now)
    message.save()
    enrollment.state = State.SENDING
    enrollment.updated_at = now
    enrollment.save(update_fields=["state", "updated_at"])
    return "claimed"


def _close(enrollment: Enrollment, state: str, reason: str, now: datetime) -> str:
    enrollment.state = state
    enrollment.reason = reason[:500]
    enrollment.updated_at = now
    enrollment.save(update_fields=["state", "reason", "updated_at"])
    return state


def _exit_reason(enrollment: Enrollment, now: datetime) -> str:
    campaign = enrollment.campaign
    if campaign.exit_roles:
        for role in campaign.exit_roles:
            names = content.role_names([role])
            if (
                names
                and Event.objects.filter(
                    profile_id=enrollment.profile_id,
                    type="track",
                    name__in=names,
                    timestamp__gte=enrollment.trigger_at,
                    timestamp__lte=now,
                ).exists()
            ):
                return Reason.exited(role)
    if campaign.kind == Campaign.Kind.ABANDONED_CART:
        cart = content.cart_of(enrollment.profile, cart_id=enrollment.cart_id, until=now)
        if not cart["lines"]:
            return Reason.CART_EMPTY
    if campaign.kind == Campaign.Kind.ABANDONED_BROWSE:
        # A cart reminder waiting, or sent since this person browsed, says it better.
        waiting = Enrollment.objects.filter(
            Q(state__in=[State.PENDING, State.SENDING])
            | Q(state=State.SENT, updated_at__gte=enrollment.trigger_at),
            profile_id=enrollment.profile_id,
            campaign__kind=Campaign.Kind.ABANDONED_CART,
            campaign__status=Campaign.Status.ACTIVE,
        )
        if waiting.exists():
            return Reason.CART_PENDING
    return ""


def _audience_reason(campaign: Campaign, profile: Profile) -> str:
    if campaign.audience is None:
        return ""
    try:
        with transaction.atomic():
            inside = (
                Profile.objects.filter(pk=profile.pk)
                .filter(segment_q(campaign.audience.definition))
                .exists()
            )
    except Exception:
        logger.exception("campaign audience check failed campaign_id=%s", campaign.pk)
        return Reason.AUDIENCE_BROKEN
    return "" if inside else Reason.NOT_IN_AUDIENCE


def _cap_reason(campaign: Campaign, profile: Profile, now: datetime) -> str:
    mine = Message.objects.filter(profile=profile).exclude(status=Message.Status.FAILED)
    if campaign.cap_count:
        count = mine.filter(
            campaign=campaign, created_at__gt=now - timedelta(hours=campaign.cap_hours)
        ).count()
        if count >= campaign.cap_count:
            return Reason.CAPPED
    per_day = settings.CAMPAIGNS_MARKETING_CAP_PER_DAY
    if per_day:
        count = mine.filter(transactional=False, created_at__gt=now - timedelta(days=1)).count()
        if count >= per_day:
            return Reason.CAPPED_MARKETING
    return ""


def zone_of(campaign: Campaign, profile: Profile) -> zoneinfo.ZoneInfo:
    """The time zone quiet hours are read in: the person's `timezone` trait, else the
    site's TIME_ZONE."""
    if campaign.quiet_in_profile_zone and isinstance(profile.traits, dict):
        for name in ("timezone", "time_zone", "timeZone"):
            value = profile.traits.get(name)
            if isinstance(value, str) and value:
                try:
                    return zoneinfo.ZoneInfo(value)
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    break
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def quiet_hours_end(campaign: Campaign, profile: Profile, now: datetime) -> datetime | None:
    """When the quiet hours `now` falls in end, or None outside them."""
    start, end = campaign.quiet_start, campaign.quiet_end
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(zone_of(campaign, profile))
    current = local.time()
    if start < end:
        inside = start <= current < end
        end_day = local.date()
    else:  # across midnight, 21:00 to 08:00
        inside = current >= start or current < end
        end_day = local.date() + timedelta(days=1) if current >= start else local.date()
    if not inside:
        return None
    ends = datetime.combine(end_day, end, tzinfo=local.tzinfo)
    return ends.astimezone(zoneinfo.ZoneInfo("UTC"))


def in_control_group(enrollment_id: int, percent: int) -> bool:
    """Deterministic: the same enrollment is always in or out of the control group."""
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"campaign-control:{enrollment_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


# --- Messages ----------------------------------------------------------------------------------


def unsubscribe_token(message_key: str) -> str:
    """A signed token naming the message (by its random idempotency key) the link is in.

    The key is 128 random bits, not a profile id or an address: a token for someone else
    cannot be made by counting, and without SECRET_KEY none can be made at all. The message
    leads to its person (messages follow merges), and the consent record names it."""
    return signing.dumps({"m": message_key}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(message_key: str) -> str:
    token = unsubscribe_token(message_key)
    try:
        path = reverse("campaign-unsubscribe", args=[token])
    except NoReverseMatch:
        path = f"/campaigns/unsubscribe/{token}/"
    return settings.CAMPAIGNS_SITE_URL.rstrip("/") + path


def message_build(
    campaign: Campaign,
    profile: Profile,
    *,
    enrollment: Enrollment | None = None,
    trigger: dict[str, Any] | None = None,
    recipient: str = "",
    now: datetime | None = None,
) -> Message:
    """Render a campaign's message for a person (unsaved). A template that fails gives a
    message with status failed and the error; nothing is raised."""
    now = now or timezone.now()
    key = uuid.uuid4().hex
    marketing = campaign.is_marketing
    unsubscribe = unsubscribe_url(key) if marketing else ""
    if campaign.channel == Campaign.Channel.WEBHOOK:
        recipient = campaign.webhook_url
    message = Message(
        enrollment=enrollment,
        campaign=campaign,
        profile=profile,
        channel=campaign.channel,
        recipient=recipient or profile.email,
        sender=channels.sender_of(campaign),
        transactional=campaign.transactional,
        idempotency_key=key,
        next_attempt_at=now,
        created_at=now,
    )
    domain = (settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost").strip(">")
    headers = {"Message-ID": f"<{key}@{domain}>", "X-Idempotency-Key": key}
    if marketing:
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.headers = headers
    try:
        context = content.message_context(
            campaign=campaign,
            profile=profile,
            trigger=trigger if trigger is not None else (enrollment.trigger if enrollment else {}),
            cart_id=enrollment.cart_id if enrollment else "",
            unsubscribe_url=unsubscribe,
            now=now,
        )
        message.subject = " ".join(rendering.render(campaign.subject_template, context).split())
        message.html = rendering.render(campaign.html_template, context, html=True)
        message.text = rendering.render(campaign.text_template, context)
    except rendering.TemplateError as exc:
        message.status = Message.Status.FAILED
        message.error = f"template error: {exc}"
        message.next_attempt_at = None
    return message


def _backoff(attempts: int) -> timedelta:
    base = float(settings.CAMPAIGNS_RETRY_SECONDS)
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 6 * 3600))


def messages_deliver(*, result: RunResult | None = None, limit: int = CLAIM_BATCH) -> RunResult:
    """Call the channel for claimed messages whose time came, each once per lease.

    A short transaction takes the message (SKIP LOCKED), counts the attempt and moves its
    next attempt to after the backoff: that is the lease no other worker takes it under.
    The channel is called after commit; success marks it sent. A crash between the
    channel's accept and our commit sends it again after the lease (at-least-once in that
    window only), with the same idempotency key."""
    result = result or RunResult()
    now = timezone.now()
    with transaction.atomic():
        taken = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("campaign")
            .filter(status=Message.Status.CLAIMED, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")[:limit]
        )
        for message in taken:
            message.attempts += 1
            message.next_attempt_at = now + _backoff(message.attempts)
            message.save(update_fields=["attempts", "next_attempt_at"])
    for message in taken:
        _deliver_one(message, result)
    return result


def _deliver_one(message: Message, result: RunResult) -> None:
    try:
        channels.deliver(message)
    except channels.ChannelError as exc:
        final = message.attempts >= settings.CAMPAIGNS_MAX_ATTEMPTS
        error = str(exc)[:2000]
        with transaction.atomic():
            if final:
                Message.objects.filter(pk=message.pk).update(
                    status=Message.Status.FAILED, error=error, next_attempt_at=None
                )
                if message.enrollment_id:
                    Enrollment.objects.filter(pk=message.enrollment_id).update(
                        state=State.FAILED, reason=error[:500], updated_at=timezone.now()
                    )
            else:
                Message.objects.filter(pk=message.pk).update(error=error)
        logger.warning(
            "campaign message failed message_id=%s attempt=%s final=%s: %s",
            message.pk,
            message.attempts,
            final,
            error,
        )
        if final:
            result.failed += 1
        else:
            result.retried += 1
        return
    sent_at = timezone.now()
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.SENT, sent_at=sent_at, error="", next_attempt_at=None
        )
        if message.enrollment_id:
            Enrollment.objects.filter(pk=message.enrollment_id).update(
                state=State.SENT, reason="", updated_at=sent_at
            )
    result.sent += 1


def campaign_preview_blockers(campaign: Campaign, profile: Profile) -> list[str]:
    """What would keep this person from getting the campaign's message now, in the engine's
    words and with its own checks, as if their latest trigger event were due now: for the
    preview, which renders the message whatever they say."""
    now = timezone.now()
    names = content.role_names([campaign.trigger_role])
    latest = (
        Event.objects.filter(profile=profile, type="track", name__in=names)
        .order_by("-timestamp")
        .only("properties", "timestamp")
        .first()
    )
    due = Enrollment(
        campaign=campaign,
        profile=profile,
        trigger_at=latest.timestamp if latest is not None else now,
        cart_id=content.cart_id_of(latest.properties) if latest is not None else "",
        due_at=now,
    )
    return [blocker.reason for blocker in _blockers(due, now)]


def campaign_preview(
    campaign: Campaign, profile: Profile, *, trigger: dict[str, Any] | None = None
) -> Message:
    """The message a person would get now, rendered and not saved: for the editor. Without a
    trigger, the person's latest event of the campaign's trigger role is used."""
    if trigger is None:
        trigger = {}
        names = content.role_names([campaign.trigger_role])
        event = (
            Event.objects.filter(profile=profile, type="track", name__in=names)
            .order_by("-timestamp")
            .first()
        )
        if event is not None:
            trigger = {
                "name": event.name,
                "at": event.timestamp.isoformat(),
                "properties": event.properties,
            }
    return message_build(campaign, profile, trigger=trigger)
