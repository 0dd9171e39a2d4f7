"""Writes of a segment's definition: create, update, duplicate, delete.

Every write checks the definition (`definition_clean`), stores it normalised with its
sentence, and asks for a refresh of the membership once committed.

Definition writes take one transaction-level advisory lock, so they run one at a time. Two
checks read other segments' definitions and would race without it: the cycle check (two
segments edited at once to contain each other would each pass alone) and the delete's check
that no segment references the one deleted (a segment saved at that moment referencing it
would be left naming nothing). Marketers save segments a few times an hour; serialising them
costs nothing they can notice.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import BooleanField, ProtectedError
from django.db.models.expressions import RawSQL
from django.utils import timezone

from cdp_project.access.actors import Actor
from cdp_project.access.audit import action, audit_write
from cdp_project.core.publish import task_publish_on_commit
from segments.definition import definition_clean
from segments.forms import NAME_MAX_LENGTH
from segments.models import Segment
from segments.sentence import definition_sentence

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock's key for definition writes: any fixed number no other lock uses
# ("segments" in ASCII).
_DEFINITION_LOCK = 0x7365676D656E7473
# A segment condition naming `$id`, anywhere in a definition.
_REFERENCES_PATH = '$.** ? (@.kind == "segment" && @.segment == $id)'


class SegmentInUse(Exception):
    """A segment that cannot be deleted: other segments' definitions, or other records,
    refer to it."""

    def __init__(self, *, segments: list[Segment], others: list[str]) -> None:
        self.segments = segments
        self.others = others
        names = [f"“{s.name}”" for s in segments] + others
        super().__init__("It is used by " + ", ".join(names) + ".")


def _lock_definitions() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DEFINITION_LOCK])


def _refresh_on_commit(segment_id: int) -> None:
    """Have a worker materialise the segment's members once it is saved. Never fails the
    save: should publishing fail, the scheduled refresh brings the segment up to date."""
    task_publish_on_commit("segments.refresh", args=[segment_id])


def segment_referenced_by(*, segment_id: int) -> list[Segment]:
    """The segments whose definition names this one in a "member of segment" condition."""
    references = RawSQL(
        "jsonb_path_exists(definition, %s::jsonpath, jsonb_build_object('id', %s::bigint))",
        (_REFERENCES_PATH, segment_id),
        output_field=BooleanField(),
    )
    return list(
        Segment.objects.alias(references=references)
        .filter(references=True)
        .exclude(pk=segment_id)
        .order_by("name", "pk")
    )


def _segment_add(
    *, name: str, description: str, definition: Any, created_by: User | None
) -> Segment:
    _lock_definitions()
    clean = definition_clean(definition)
    now = timezone.now()
    segment = Segment.objects.create(
        name=name,
        description=description,
        definition=clean,
        sentence=definition_sentence(clean),
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    _refresh_on_commit(segment.pk)
    logger.info("segment_created segment_id=%s", segment.pk)
    return segment


@action
def segment_create(
    *,
    actor: Actor,
    name: str,
    description: str = "",
    definition: Any,
) -> Segment:
    """Save a new segment. Raises DefinitionError when the definition does not check."""
    segment = _segment_add(
        name=name, description=description, definition=definition, created_by=actor.user
    )
    audit_write(
        actor=actor,
        action="segment.create",
        obj=segment,
        summary=f"Saved segment “{segment.name}”: {segment.sentence or 'everyone'}",
    )
    return segment


@action
def segment_update(
    *, actor: Actor, segment: Segment, name: str, description: str = "", definition: Any
) -> Segment:
    """Save a segment's name, description and definition. Raises DefinitionError when the
    definition does not check (a segment may not contain itself, even through others), and
    Segment.DoesNotExist when it was deleted meanwhile."""
    _lock_definitions()
    locked = Segment.objects.select_for_update(no_key=True).get(pk=segment.pk)
    clean = definition_clean(definition, segment_id=locked.pk)
    locked.name = name
    locked.description = description
    locked.definition = clean
    locked.sentence = definition_sentence(clean)
    locked.updated_at = timezone.now()
    locked.save(update_fields=["name", "description", "definition", "sentence", "updated_at"])
    _refresh_on_commit(locked.pk)
    audit_write(
        actor=actor,
        action="segment.update",
        obj=locked,
        summary=f"Saved segment “{locked.name}”: {locked.sentence or 'everyone'}",
    )
    logger.info("segment_updated segment_id=%s", locked.pk)
    return locked


@action
def segment_duplicate(*, actor: Actor, segment: Segment) -> Segment:
    """A copy of a segment, named "Copy of …", with the same description and definition.
    Raises DefinitionError when the definition no longer checks (it names a segment or an
    activity that is gone): the marketer fixes the original first."""
    name = f"Copy of {segment.name}"
    if len(name) > NAME_MAX_LENGTH:
        name = name[: NAME_MAX_LENGTH - 1] + "…"
    copy = _segment_add(
        name=name,
        description=segment.description,
        definition=segment.definition,
        created_by=actor.user,
    )
    audit_write(
        actor=actor,
        action="segment.create",
        obj=copy,
        summary=f"Copied segment “{segment.name}” (#{segment.pk})",
    )
    return copy


@action
def segment_delete(*, actor: Actor, segment: Segment) -> None:
    """Delete a segment with its membership and history. Raises SegmentInUse while another
    segment's definition names it, or other records (campaigns) protect it."""
    _lock_definitions()
    locked = Segment.objects.select_for_update().filter(pk=segment.pk).first()
    if locked is None:
        return  # deleted meanwhile: what was asked is done, by whoever did it
    referencing = segment_referenced_by(segment_id=locked.pk)
    if referencing:
        raise SegmentInUse(segments=referencing, others=[])
    try:
        with transaction.atomic():
            locked.delete()
    except ProtectedError as error:
        others = sorted({str(obj) for obj in error.protected_objects})[:10]
        raise SegmentInUse(segments=[], others=others) from error
    audit_write(
        actor=actor,
        action="segment.delete",
        object_type="segment",
        object_id=segment.pk,
        summary=f"Deleted segment “{segment.name}”",
    )
    logger.info("segment_deleted segment_id=%s", segment.pk)
