"""Materialised membership: who is in each segment, since when, who entered and who left.

A refresh evaluates a segment's definition over every profile and applies the difference to
`Membership` set-based, in one transaction: the members who no longer match
are deleted, the profiles that newly match are inserted, and each entry and exit is recorded
as a `MembershipChange` (what campaigns trigger on). A `SizeSnapshot` is added when the size or
the members changed, so the size over time reads as a step line.

Decisions that matter:
- One refresh of a segment at a time: a transaction-level advisory lock per segment. A second
  refresh waits for the first and then finds nothing to change, so nothing is recorded twice;
  the scheduled refresh skips a segment another refresh holds. The segment's row is not
  locked until the final update, so editing segments never waits on a refresh.
- The compiled definition (`compiler.segment_sql`) comes with its parameters and is embedded
  in fixed SQL; nothing a marketer typed becomes SQL text. The matching profiles, the members
  who leave (membership row and profile) and the profiles that enter go to temporary tables.
- Every profile whose membership changes is locked `FOR KEY SHARE` in id order before any
  write, the order ingest and merges lock profiles in: no deadlock with them, and no merge can
  move or delete those rows until the refresh commits. A profile deleted before it was locked
  is skipped; an exit is only the membership row as it was read, so a row a merge moved to
  the survivor meanwhile is never recorded as the survivor leaving.
- A definition that fails to check, compile or run (or takes longer than
  SEGMENTS_REFRESH_TIMEOUT_SECONDS) rolls back to a savepoint: the membership stays as it
  was, never half-applied, and the segment records the error for its page.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from cdp_project.core.db import query_canceled, statement_timeout_set
from profiles.models import Profile
from segments.compiler import segment_sql
from segments.definition import DefinitionError, definition_parse
from segments.models import Membership, MembershipChange, Segment, SizeSnapshot

logger = logging.getLogger(__name__)

# Reported on the segment's page; the log has the details.
MAX_ERROR_LENGTH = 2000
# The first key of the advisory lock a refresh holds (the second is the segment's id).
REFRESH_LOCK = 7301


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh found: the size after it, who entered and left, how long it took.
    `error` is set when the definition could not be evaluated (membership unchanged)."""

    size: int
    entered: int
    exited: int
    ms: int
    error: str = ""


def _table(model: type[Model]) -> str:
    return model._meta.db_table


# The difference between the members and the profiles that match, in four statements of one
# transaction. `{matching}` is the compiled definition: a SELECT of one column of profile ids.
_DROP = "DROP TABLE IF EXISTS cdp_segment_matching, cdp_segment_exiting, cdp_segment_entering"
_MATCHING = """
CREATE TEMP TABLE cdp_segment_matching ON COMMIT DROP AS
    SELECT DISTINCT m.profile_id FROM ({matching}) AS m(profile_id);
"""
_EXITING = f"""
CREATE TEMP TABLE cdp_segment_exiting ON COMMIT DROP AS
    SELECT ms.id, ms.profile_id FROM {_table(Membership)} AS ms
    WHERE ms.segment_id = %(segment)s
      AND NOT EXISTS (
          SELECT 1 FROM cdp_segment_matching AS x WHERE x.profile_id = ms.profile_id)
"""  # noqa: S608
_ENTERING = f"""
CREATE TEMP TABLE cdp_segment_entering ON COMMIT DROP AS
    SELECT x.profile_id FROM cdp_segment_matching AS x
    WHERE NOT EXISTS (
        SELECT 1 FROM {_table(Membership)} AS ms
        WHERE ms.segment_id = %(segment)s AND ms.profile_id = x.profile_id)
"""  # noqa: S608 - table names come from the models; values are parameters
# Every profile whose membership changes, locked in id order as ingest and merges lock
# profiles: no deadlock with them, and no merge can move or delete these rows until commit
# (the foreign-key checks of the new rows, deferred to commit, then find them locked by us).
# A profile deleted meanwhile is skipped.
_LOCK = f"""
SELECT count(*) FROM (
    SELECT p.id FROM {_table(Profile)} AS p
    WHERE p.id IN (SELECT profile_id FROM cdp_segment_entering
                   UNION SELECT profile_id FROM cdp_segment_exiting)
    ORDER BY p.id
    FOR KEY SHARE OF p
) AS locked
"""  # noqa: S608
# An exit is the membership row as it was read: a row a merge moved to another profile since
# is not this exit.
_APPLY = f"""
WITH exited AS (
    DELETE FROM {_table(Membership)} AS ms USING cdp_segment_exiting AS x
    WHERE ms.id = x.id AND ms.profile_id = x.profile_id
    RETURNING ms.profile_id
),
entered AS (
    INSERT INTO {_table(Membership)} (segment_id, profile_id, entered_at)
    SELECT %(segment)s, e.profile_id, %(now)s
    FROM cdp_segment_entering AS e JOIN {_table(Profile)} AS p ON p.id = e.profile_id
    ON CONFLICT (segment_id, profile_id) DO NOTHING
    RETURNING profile_id
),
changes AS (
    INSERT INTO {_table(MembershipChange)} (segment_id, profile_id, kind, at)
    SELECT %(segment)s, profile_id, %(entered_kind)s, %(now)s FROM entered
    UNION ALL
    SELECT %(segment)s, profile_id, %(exited_kind)s, %(now)s FROM exited
    RETURNING kind
)
SELECT
    count(*) FILTER (WHERE kind = %(entered_kind)s),
    count(*) FILTER (WHERE kind = %(exited_kind)s)
FROM changes
"""  # noqa: S608 - table names come from the models; values are parameters

_SIZE = f"SELECT count(*) FROM {_table(Membership)} WHERE segment_id = %s"  # noqa: S608


_NOBODY = f"SELECT id FROM {_table(Profile)} WHERE false"  # noqa: S608

_PLACEHOLDER = re.compile(r"%%|%s")


def _named(sql: str, params: list | tuple) -> tuple[str, dict]:
    """The compiled SQL with its positional `%s` parameters turned into named ones, so it
    can sit in a statement whose own parameters are named (`%%` stays an escaped percent)."""
    count = 0

    def name(match: re.Match) -> str:
        nonlocal count
        if match.group() == "%%":
            return "%%"
        count += 1
        return f"%(d{count - 1})s"

    text = _PLACEHOLDER.sub(name, sql)
    if count != len(params):
        raise ValueError("The compiled definition and its parameters do not match.")
    return text, {f"d{index}": value for index, value in enumerate(params)}


def _timeout_ms() -> int:
    return int(settings.SEGMENTS_REFRESH_TIMEOUT_SECONDS * 1000)


def _apply(segment: Segment, now: datetime) -> tuple[int, int, int]:
    """Evaluate the definition and apply the difference; returns (size, entered, exited)."""
    tree = definition_parse(segment.definition, segment_id=segment.pk)
    try:
        compiled, compiled_params = segment_sql(tree, now=now)
    except EmptyResultSet:
        # A definition that can hold no one (it names a deleted segment, say).
        compiled, compiled_params = _NOBODY, []
    matching, params = _named(compiled, compiled_params)
    params.update(
        segment=segment.pk,
        now=now,
        entered_kind=MembershipChange.Kind.ENTERED.value,
        exited_kind=MembershipChange.Kind.EXITED.value,
    )
    # Lasts to the end of the transaction: a definition that scans too much fails here,
    # with a message, rather than holding the segment's lock for ever.
    statement_timeout_set(_timeout_ms())
    with connection.cursor() as cursor:
        cursor.execute(_DROP)
        cursor.execute(_MATCHING.replace("{matching}", matching), params)
        cursor.execute(_EXITING, {"segment": segment.pk})
        cursor.execute(_ENTERING, {"segment": segment.pk})
        cursor.execute(_LOCK)
        cursor.execute(_APPLY, params)
        entered, exited = cursor.fetchone()
        cursor.execute(_SIZE, [segment.pk])
        (size,) = cursor.fetchone()
    return size, entered, exited


def _error_text(exc: Exception) -> str:
    if isinstance(exc, DefinitionError):
        text = "The definition is not valid any more: " + "; ".join(exc.errors)
    elif query_canceled(exc):
        seconds = _timeout_ms() / 1000
        text = f"The definition took longer than {seconds:g} s to evaluate; it was stopped."
    elif isinstance(exc, DatabaseError):
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        text = f"The database could not evaluate the definition: {first_line}"
    else:
        text = f"The definition could not be evaluated: {exc or type(exc).__name__}"
    return text[:MAX_ERROR_LENGTH]


def segment_refresh(segment: Segment | int, *, skip_locked: bool = False) -> RefreshResult | None:
    """Bring a segment's membership up to date with its definition, now.

    Waits for a refresh of the same segment that is running; with `skip_locked`, returns
    None at once instead. A definition that cannot be evaluated leaves the membership as it
    was and is reported in the result's `error` and on the segment (`refresh_error`)."""
    segment_id = segment.pk if isinstance(segment, Segment) else segment
    try:
        return _refresh(segment_id, skip_locked=skip_locked)
    except IntegrityError:
        # A member who left was merged or deleted while the refresh ran: its exit row names
        # a profile gone at commit. Once more, from the state after that change.
        logger.info("segment_refresh_retried segment_id=%s", segment_id)
        return _refresh(segment_id, skip_locked=skip_locked)


def _refresh(segment_id: int, *, skip_locked: bool) -> RefreshResult | None:
    started = time.monotonic()
    with transaction.atomic():
        # One refresh of a segment at a time, held to the end of the transaction. An advisory
        # lock, not the segment's row: editing or saving segments never waits on a refresh.
        with connection.cursor() as cursor:
            function = "pg_try_advisory_xact_lock" if skip_locked else "pg_advisory_xact_lock"
            cursor.execute(f"SELECT {function}(%s, %s)", [REFRESH_LOCK, segment_id])
            if skip_locked and not cursor.fetchone()[0]:
                logger.info("segment_refresh_skipped_busy segment_id=%s", segment_id)
                return None
        locked = Segment.objects.filter(pk=segment_id).first()
        if locked is None:
            return None
        now = timezone.now()
        try:
            with transaction.atomic():  # a savepoint: an error undoes the partial work
                size, entered, exited = _apply(locked, now)
        except Exception as exc:  # any failure of this definition; recorded, not raised
            error = _error_text(exc)
            logger.warning(
                "segment_refresh_failed segment_id=%s error=%s: %s",
                segment_id,
                type(exc).__name__,
                exc,
                exc_info=not isinstance(exc, ValueError | DatabaseError),
            )
            Segment.objects.filter(pk=segment_id).update(refresh_error=error)
            ms = round((time.monotonic() - started) * 1000)
            return RefreshResult(size=locked.size or 0, entered=0, exited=0, ms=ms, error=error)
        if entered or exited or size != locked.size:
            SizeSnapshot.objects.create(
                segment_id=segment_id, at=now, size=size, entered=entered, exited=exited
            )
        ms = round((time.monotonic() - started) * 1000)
        Segment.objects.filter(pk=segment_id).update(
            size=size, refreshed_at=now, refresh_ms=ms, refresh_error=""
        )
    logger.info(
        "segment_refreshed segment_id=%s size=%s entered=%s exited=%s ms=%s",
        segment_id,
        size,
        entered,
        exited,
        ms,
    )
    return RefreshResult(size=size, entered=entered, exited=exited, ms=ms)


def segments_refresh_all() -> int:
    """Refresh every segment, one transaction each; a segment whose refresh fails is logged
    and the others still run. Segments another refresh holds are skipped (it is doing the
    work). Returns how many segments were refreshed without error."""
    refreshed = 0
    for segment_id in Segment.objects.order_by("pk").values_list("pk", flat=True):
        try:
            result = segment_refresh(segment_id, skip_locked=True)
        except Exception:  # e.g. the connection dropped: the next segment may still work
            logger.exception("segment_refresh_crashed segment_id=%s", segment_id)
            continue
        if result is not None and not result.error:
            refreshed += 1
    return refreshed


# The same difference, for the given profiles only: the compiled definition restricted to
# them (`profile_id = ANY(…)`, which the planner pushes into the definition's scan of profiles,
# so it reads those rows by primary key) and only their membership rows.
_MATCHING_AMONG = """
CREATE TEMP TABLE cdp_segment_matching ON COMMIT DROP AS
    SELECT DISTINCT m.profile_id FROM ({matching}) AS m(profile_id)
    WHERE m.profile_id = ANY(%(among)s);
"""
_EXITING_AMONG = _EXITING.replace(
    "WHERE ms.segment_id = %(segment)s",
    "WHERE ms.segment_id = %(segment)s AND ms.profile_id = ANY(%(among)s)",
)


def segment_membership_check(segment_id: int, profile_ids: list[int]) -> RefreshResult | None:
    """Bring the membership of the given profiles in a segment up to date, now: what a refresh
    does, for them only, recording their entries and exits the same way. For triggers that
    must see an entry within seconds of the event that caused it (campaigns' segment
    entry), between the scheduled refreshes that catch the rest (entries that time alone
    causes, "no order for 90 days").

    Takes the segment's refresh lock like a refresh, so the two never record one entry
    twice. The segment's size is left to the next refresh. None when the segment is gone;
    a definition that fails leaves the membership as it was and is only logged."""
    if not profile_ids:
        return RefreshResult(size=0, entered=0, exited=0, ms=0)
    started = time.monotonic()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [REFRESH_LOCK, segment_id])
        segment = Segment.objects.filter(pk=segment_id).first()
        if segment is None:
            return None
        now = timezone.now()
        try:
            with transaction.atomic():
                entered, exited = _apply_among(segment, sorted(set(profile_ids)), now)
        except Exception as exc:  # the scheduled refresh records the error on the segment
            logger.warning(
                "segment_membership_check_failed segment_id=%s error=%s: %s",
                segment_id,
                type(exc).__name__,
                exc,
            )
            ms = round((time.monotonic() - started) * 1000)
            return RefreshResult(size=segment.size or 0, entered=0, exited=0, ms=ms, error=str(exc))
    ms = round((time.monotonic() - started) * 1000)
    return RefreshResult(size=segment.size or 0, entered=entered, exited=exited, ms=ms)


def _apply_among(segment: Segment, profile_ids: list[int], now: datetime) -> tuple[int, int]:
    tree = definition_parse(segment.definition, segment_id=segment.pk)
    try:
        compiled, compiled_params = segment_sql(tree, now=now)
    except EmptyResultSet:
        compiled, compiled_params = _NOBODY, []
    matching, params = _named(compiled, compiled_params)
    params.update(
        segment=segment.pk,
        now=now,
        among=profile_ids,
        entered_kind=MembershipChange.Kind.ENTERED.value,
        exited_kind=MembershipChange.Kind.EXITED.value,
    )
    statement_timeout_set(_timeout_ms())
    with connection.cursor() as cursor:
        cursor.execute(_DROP)
        cursor.execute(_MATCHING_AMONG.replace("{matching}", matching), params)
        cursor.execute(_EXITING_AMONG, {"segment": segment.pk, "among": profile_ids})
        cursor.execute(_ENTERING, {"segment": segment.pk})
        cursor.execute(_LOCK)
        cursor.execute(_APPLY, params)
        entered, exited = cursor.fetchone()
    return entered, exited
