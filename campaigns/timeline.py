"""What campaigns show and keep about one person.

- On the profile timeline (PROFILE_TIMELINE_EXTRAS): every message the app sent or tried to
  send to the person, linked to its Outbox page, and every enrollment that ended without a
  message, with the reason ("Abandoned cart not sent: converted: order completed"). That
  answers "why did this person not get the email?" where the marketer looks for it.
- In the person's data export and deletion (profiles.rights): their messages, including
  test sends rendered with their data for another address, and their enrollments.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import CharField, F, Q, QuerySet, Value
from django.urls import reverse

from campaigns.models import Campaign, Enrollment, Message
from campaigns.progress import PROFILE_JOURNEYS, profile_journeys
from profiles.models import Profile
from profiles.rights import personal_data_register
from profiles.sections import ProfileSection, profile_section_register
from profiles.selectors import TimelineExtra

State = Enrollment.State
# Enrollments that ended without a message; a message's own entry tells the rest.
NOT_SENT_STATES = (State.EXITED, State.SUPPRESSED, State.CONTROL)
_COLUMNS = ("kind", "ref", "at", "campaign_name", "state", "subject", "detail", "channel")


def _text(value: str) -> Value:
    return Value(value, output_field=CharField())


def _in_range(queryset: QuerySet, field: str, since: datetime | None, until: datetime | None):
    if since is not None:
        queryset = queryset.filter(**{f"{field}__gte": since})
    if until is not None:
        queryset = queryset.filter(**{f"{field}__lt": until})
    return queryset


def profile_timeline_messages(
    *, profile: Profile, since: datetime | None = None, until: datetime | None = None
) -> list[TimelineExtra]:
    """The person's messages (at the time they were recorded) and the enrollments that
    ended without one (at the time that was decided), from `since` up to `until`.

    One query, a UNION of the messages (served by `message_profile_latest`) and the
    person's enrollments; every column is an annotation, so both sides line up."""
    messages = _in_range(
        Message.objects.filter(profile=profile), "created_at", since, until
    ).annotate(
        kind=_text("message"),
        ref=F("pk"),
        at=F("created_at"),
        campaign_name=F("campaign__name"),
        state=F("status"),
        # `subject` is a field of Message: the union's column takes another name.
        subject_text=F("subject"),
        detail=F("error"),
        channel_name=F("channel"),
    )
    enrollments = _in_range(
        Enrollment.objects.filter(profile=profile, state__in=NOT_SENT_STATES),
        "updated_at",
        since,
        until,
    ).annotate(
        kind=_text("enrollment"),
        ref=F("pk"),
        at=F("updated_at"),
        campaign_name=F("campaign__name"),
        enrollment_state=F("state"),
        subject_text=_text(""),
        detail=F("reason"),
        channel_name=F("campaign__channel"),
    )
    rows = (
        messages.order_by()
        .values_list(
            "kind", "ref", "at", "campaign_name", "state", "subject_text", "detail", "channel_name"
        )
        .union(
            enrollments.order_by().values_list(
                "kind",
                "ref",
                "at",
                "campaign_name",
                "enrollment_state",
                "subject_text",
                "detail",
                "channel_name",
            ),
            all=True,
        )
    )
    return [_entry(dict(zip(_COLUMNS, row, strict=True))) for row in rows]


_MESSAGE_BADGES = {
    Message.Status.SENT: ("sent", "ok"),
    Message.Status.CLAIMED: ("sending", ""),
    Message.Status.FAILED: ("failed", "off"),
}
_ENROLLMENT_BADGES = {
    State.EXITED: ("Not sent: exited", ""),
    State.SUPPRESSED: ("Not sent", "warn"),
    State.CONTROL: ("Not sent: control group", ""),
}


def _entry(row: dict[str, Any]) -> TimelineExtra:
    name = row["campaign_name"] or "A deleted campaign"
    if row["kind"] == "message":
        status, tone = _MESSAGE_BADGES.get(row["state"], (row["state"], ""))
        channel = Campaign.Channel(row["channel"]).label if row["channel"] else "Message"
        return TimelineExtra(
            at=row["at"],
            anchor=f"message-{row['ref']}",
            badge=f"{channel} {status}",
            tone=tone,
            title=f"{name}: {row['subject']}" if row["subject"] else name,
            detail=row["detail"][:300] if row["state"] == Message.Status.FAILED else "",
            url=reverse("campaign-message", args=[row["ref"]]),
        )
    badge, tone = _ENROLLMENT_BADGES.get(row["state"], ("Not sent", ""))
    reason = row["detail"] or State(row["state"]).label.lower()
    return TimelineExtra(
        at=row["at"],
        anchor=f"enrollment-{row['ref']}",
        badge=badge,
        tone=tone,
        title=f"{name} not sent: {reason}",
    )


# --- data rights -------------------------------------------------------------------------------


def _messages_of(profile: Profile) -> QuerySet[Message]:
    """Messages sent to the person, and test sends rendered with their data."""
    return Message.objects.filter(Q(profile=profile) | Q(rendered_for=profile))


def profile_messages_export(profile: Profile) -> list[dict[str, Any]]:
    """The person's messages for their export: who sent what, when, and how it went. The
    text body is included; the HTML body says the same with markup."""
    rows = (
        _messages_of(profile)
        .order_by("created_at", "id")
        .values(
            "id",
            "campaign__name",
            "channel",
            "recipient",
            "sender",
            "subject",
            "text",
            "status",
            "transactional",
            "error",
            "created_at",
            "sent_at",
            "rendered_for_id",
        )
    )
    exported: list[dict[str, Any]] = []
    for values in rows:
        row: dict[str, Any] = dict(values)
        row["campaign"] = row.pop("campaign__name")
        # A test send went to someone else's address with this person's data in it.
        row["test_send"] = row.pop("rendered_for_id") is not None
        exported.append(row)
    return exported


def profile_enrollments_export(profile: Profile) -> list[dict[str, Any]]:
    """The campaigns the person entered, what triggered each, and what became of it (with
    the reason a message was not sent)."""
    rows = (
        Enrollment.objects.filter(profile=profile)
        .order_by("created_at", "id")
        .values(
            "id",
            "campaign__name",
            "trigger__name",
            "trigger_at",
            "key",
            "cart_id",
            "state",
            "reason",
            "due_at",
            "created_at",
            "updated_at",
        )
    )
    exported: list[dict[str, Any]] = []
    for values in rows:
        row: dict[str, Any] = dict(values)
        row["campaign"] = row.pop("campaign__name")
        row["trigger"] = row.pop("trigger__name")
        exported.append(row)
    return exported


def profile_messages_delete(profile: Profile) -> int:
    deleted, _ = _messages_of(profile).delete()
    return deleted


def profile_enrollments_delete(profile: Profile) -> int:
    deleted, _ = Enrollment.objects.filter(profile=profile).delete()
    return deleted


def personal_data_connect() -> None:
    """Make the person's export and deletion include what campaigns keep about them
    (called once at start-up by the app's config)."""
    personal_data_register(
        name="messages", export=profile_messages_export, delete=profile_messages_delete
    )
    personal_data_register(
        name="campaign_enrollments",
        export=profile_enrollments_export,
        delete=profile_enrollments_delete,
    )


# --- the person's journeys, a section of their page -------------------------------------------


def profile_journeys_section(profile: Profile) -> ProfileSection | None:
    """Every journey the person is in or was in (the latest PROFILE_JOURNEYS entries): the
    step they are at, what happens next and when, and their path."""
    journeys = profile_journeys(profile=profile)
    if not journeys:
        return None
    return ProfileSection(
        key="journeys",
        title="Journeys",
        template="campaigns/_profile_journeys.html",
        context={"journeys": journeys, "limit": PROFILE_JOURNEYS},
        count=len(journeys),
        open=any(found.next is not None for found in journeys),
    )


def profile_section_connect() -> None:
    profile_section_register(key="journeys", read=profile_journeys_section)
