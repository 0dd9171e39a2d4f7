"""Writes of the profile pages: notes."""

from __future__ import annotations

import logging

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError

from profiles.models import Profile, ProfileNote

logger = logging.getLogger(__name__)

NOTE_MAX_LENGTH = 5000


def profile_note_add(
    *, profile: Profile, author: AbstractBaseUser | None, body: str
) -> ProfileNote:
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
