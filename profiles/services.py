"""Writes of the profile pages: notes, consent recorded by a marketer."""

from __future__ import annotations

import logging

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from profiles.models import Consent, ConsentChange, Profile, ProfileNote

logger = logging.getLogger(__name__)

NOTE_MAX_LENGTH = 5000


def profile_note_add(*, profile: Profile, author: User | None, body: str) -> ProfileNote:
    """Leave a dated note on a profile; it shows on the timeline at the time it was written.

    The form gives the marketer the errors; the checks here keep any other caller from
    storing an empty or unbounded note (or a NUL, which Postgres text cannot hold).
    """
    body = body.replace("\x00", "").strip()
    if not body:
        raise ValidationError("Write something first: the note is empty.", code="empty")
    if len(body) > NOTE_MAX_LENGTH:
        raise ValidationError(
            f"A note holds at most {NOTE_MAX_LENGTH:,} characters (this one has {len(body):,}).",
            code="too_long",
        )
    note = ProfileNote.objects.create(profile=profile, author=author, body=body)
    logger.info("profile_note_added profile_id=%s note_id=%s", profile.pk, note.pk)
    return note


@transaction.atomic
def profile_consent_set(
    *,
    profile: Profile,
    channel: str,
    state: str,
    author: User | None,
    how: str,
    recorded: str = "",
) -> ConsentChange:
    """Record consent given or withdrawn outside the site (by phone, in a shop), now.

    `recorded` says where it was recorded when no marketer did ("from the unsubscribe link
    of Outbox message #12"); by default, by the author or in the profile page.

    It counts like consent from an identify at this time: it stands until a newer decision
    arrives, and a late event with an older time does not undo it.
    """
    if channel not in ConsentChange.Channel.values:
        raise ValidationError("Choose email or SMS.", code="channel")
    if state not in (Consent.GRANTED, Consent.WITHDRAWN):
        raise ValidationError("Choose opted in or opted out.", code="state")
    how = " ".join(how.replace("\x00", "").split())[:200]
    who = getattr(author, "get_username", lambda: "")() if author else ""
    locked = Profile.objects.select_for_update(no_key=True).get(pk=profile.pk)
    now = timezone.now()
    setattr(locked, f"{channel}_consent", state)
    setattr(locked, f"{channel}_consent_at", now)
    locked.save(update_fields=[f"{channel}_consent", f"{channel}_consent_at"])
    if who:
        recorded = f"recorded by {who}"
    elif recorded:
        recorded = f"recorded {recorded}"
    else:
        recorded = "recorded in the profile page"
    change = ConsentChange.objects.create(
        profile=locked,
        channel=channel,
        state=state,
        at=now,
        how=(f"{how} ({recorded})" if how else recorded[0].upper() + recorded[1:])[:255],
    )
    logger.info("profile_consent_set profile_id=%s channel=%s state=%s", profile.pk, channel, state)
    return change
