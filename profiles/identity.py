"""Identity resolution: which profile each event of a batch belongs to.

Called by ingest for a whole batch, inside its transaction, before the events are stored.

The rules (docs/profiles.md says them for marketers):
- Every id (anonymous id, user id, email, …) points to one profile.
- An event whose ids are all unknown starts a new profile with them.
- An event that carries an unknown id beside a known one adds it to that profile (an
  anonymous visitor who identifies keeps their history).
- An event whose ids point to two profiles merges them, unless both hold different user ids:
  two known people are never merged through a shared anonymous id, a shared device or a
  shared email. The event then goes to the profile of its own user id (created if need
  be), and the shared id stays where it was.
- `alias` links `previousId` to `userId` explicitly, and merges even two known profiles. A
  previous id nobody has sent yet joins the alias's profile as a user id, so an alias that
  overtakes its identify on the wire still ends in one person.
- A profile collects at most `PROFILE_MAX_ANONYMOUS_IDS` anonymous ids; past that, a new
  anonymous id starts a profile of its own instead of growing the person without bound.

Concurrency: the common case (every id known, nothing to link) costs one read and takes no
lock. When something must change, transaction-level advisory locks on the ids of the events
that change something (see `_lock`) serialise the requests that touch the same ids; the ids
are read again under the locks, so two concurrent requests for the same new person make one
profile, while requests for different people go on side by side.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from cdp_project.core.jsontext import json_text
from cdp_project.core.prepared import prepared_cursor
from ingestion.people import IdentityClaim
from ingestion.services import events_move_to_profile
from profiles.columns import sql_type
from profiles.computed import profile_computed_merge
from profiles.computed.fields import COMPUTED_FIELDS
from profiles.models import (
    ConsentChange,
    Identity,
    Order,
    Profile,
    ProfileMerge,
    ProfileNote,
)
from profiles.signals import profile_merged

logger = logging.getLogger(__name__)

Key = tuple[str, str]
USER = Identity.Namespace.USER_ID.value
ANON = Identity.Namespace.ANONYMOUS_ID.value
EMAIL = Identity.Namespace.EMAIL.value
LOCK_BUCKETS = 512
# A batch with at most this many ids to lock locks each id's own hash (one lock per id);
# a larger one locks the coarse buckets instead, so no transaction holds more than
# LOCK_BUCKETS advisory locks (Postgres' lock table is shared and bounded).
FINE_LOCK_LIMIT = 256
# Advisory-lock keys for identities live in their own ranges of the 64-bit key space: the
# coarse buckets below the per-id hashes, so sorted keys take coarse locks first.
_LOCK_BASE = 0x6364700000000000
_FINE_LOCK_BASE = 0x6364710000000000


def _key_hash(key: Key) -> int:
    digest = hashlib.blake2b(f"{key[0]}\x1f{key[1]}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


def _lock_plan(keys: Iterable[Key]) -> tuple[list[int], list[bool]]:
    """The advisory locks for these ids, sorted, and whether each is taken shared.

    Two levels, so that requests for different people rarely wait for each other and yet
    no transaction holds more than LOCK_BUCKETS locks. A small set locks each id's own hash
    exclusively, after its coarse bucket shared; a large one locks the coarse buckets
    exclusively. Two small sets exclude each other on a shared id; a large one excludes
    every set that shares a bucket with it. Coarse keys sort first, so every transaction
    takes its locks in one global order and none waits for another in a circle.
    """
    hashes = {_key_hash(key) for key in keys}
    coarse = sorted({_LOCK_BASE + h % LOCK_BUCKETS for h in hashes})
    if len(hashes) > FINE_LOCK_LIMIT:
        return coarse, [False] * len(coarse)
    fine = sorted(_FINE_LOCK_BASE + h for h in hashes)
    return coarse + fine, [True] * len(coarse) + [False] * len(fine)


def _lock(keys: Iterable[Key]) -> None:
    locks, shared = _lock_plan(keys)
    if not locks:
        return
    with prepared_cursor() as cursor:
        # Volatile functions in the select list run after the sort: in `k` order.
        cursor.execute(
            """
            SELECT CASE WHEN s THEN pg_advisory_xact_lock_shared(k)
                        ELSE pg_advisory_xact_lock(k) END
            FROM jsonb_to_recordset(%s::jsonb) AS t(k bigint, s boolean) ORDER BY k
            """,
            [json_text([{"k": k, "s": s} for k, s in zip(locks, shared, strict=True)])],
        )


def _unsettled_keys(claims: Sequence[IdentityClaim], known: _Known) -> set[Key]:
    """The ids to lock: those of the claims that may change something (an id not known yet,
    or ids of more than one profile), and the batch's other ids of the profiles those touch.
    A claim whose ids all belong to one untouched profile changes nothing (merges move every
    id of a profile together), so its ids need no lock."""
    keys: set[Key] = set()
    for claim in claims:
        claim_keys = claim.keys() + claim.previous_keys()
        owners = {known.owner.get(key) for key in claim_keys}
        if len(owners) != 1 or None in owners:
            keys.update(claim_keys)
    touched = {known.owner[key] for key in keys if key in known.owner}
    keys.update(key for key, owner in known.owner.items() if owner in touched)
    return keys


@dataclass
class _Known:
    owner: dict[Key, int]
    user_of: dict[int, str]  # profile → its user id ("" when anonymous)
    anonymous_ids: dict[int, int]  # profile → how many anonymous ids it holds


def _lookup(keys: set[Key], *, count_anonymous: bool) -> _Known:
    owner: dict[Key, int] = {}
    user_of: dict[int, str] = {}
    if keys:
        ordered = sorted(keys)
        with prepared_cursor() as cursor:
            cursor.execute(
                """
                SELECT k.namespace, k.value, i.profile_id, p.user_id
                FROM jsonb_to_recordset(%s::jsonb) AS k(namespace text, value text)
                -- One index probe per id: joined plainly, the planner guesses 100 ids
                -- whatever the batch holds and may read the whole table for them.
                CROSS JOIN LATERAL (
                    SELECT i.profile_id FROM profiles_identity i
                    WHERE i.namespace = k.namespace AND i.value = k.value
                    LIMIT 1
                ) i
                JOIN profiles_profile p ON p.id = i.profile_id
                """,
                # One JSON text, encoded in C, rather than two arrays adapted in Python.
                [json_text([{"namespace": n, "value": v} for n, v in ordered])],
            )
            for namespace, value, profile_id, user_id in cursor.fetchall():
                owner[(namespace, value)] = profile_id
                user_of[profile_id] = user_id
    anonymous_ids: dict[int, int] = {}
    if count_anonymous and user_of:
        with prepared_cursor() as cursor:
            cursor.execute(_COUNT_ANONYMOUS, [json_text(sorted(user_of)), ANON])
            anonymous_ids = {profile_id: count for profile_id, count in cursor.fetchall() if count}
    return _Known(owner, user_of, anonymous_ids)


# How many anonymous ids each profile holds: one probe of `identity_profile` per profile.
# Written as a filter on `namespace`, a planner whose statistics saw few anonymous ids (the
# table never analyzed yet, in a new store's first minute) reads every anonymous id in the
# table for each batch instead, through `identity_unique`.
_COUNT_ANONYMOUS = """
    SELECT t.id, c.count
    FROM (SELECT value::bigint AS id FROM jsonb_array_elements_text(%s::jsonb)) AS t
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE i.namespace = %s) AS count
        FROM profiles_identity i WHERE i.profile_id = t.id
    ) AS c
"""


@dataclass
class _Merge:
    loser: int
    survivor: int
    linked_by: list[Key]
    message_id: str
    reason: str


@dataclass
class _Plan:
    assignments: list[int] = field(default_factory=list)
    new_profiles: dict[int, str] = field(default_factory=dict)  # temp id → user id
    attach: dict[Key, tuple[int, datetime, str]] = field(default_factory=dict)
    merges: list[_Merge] = field(default_factory=list)
    user_set: dict[int, str] = field(default_factory=dict)  # existing profile → new user id

    @property
    def changes(self) -> bool:
        return bool(self.new_profiles or self.attach or self.merges or self.user_set)


def _plan(claims: Sequence[IdentityClaim], known: _Known) -> _Plan:
    plan = _Plan()
    owner = dict(known.owner)
    user_of = dict(known.user_of)
    anonymous_ids: dict[int, int] = defaultdict(int, known.anonymous_ids)
    limit = settings.PROFILE_MAX_ANONYMOUS_IDS
    merged_into: dict[int, int] = {}
    next_temp = -1

    def find(pid: int) -> int:
        while pid in merged_into:
            pid = merged_into[pid]
        return pid

    def new_profile(user_id: str) -> int:
        nonlocal next_temp
        pid = next_temp
        next_temp -= 1
        plan.new_profiles[pid] = user_id
        user_of[pid] = user_id
        return pid

    def attach(key: Key, pid: int, claim: IdentityClaim) -> bool:
        if key[0] == ANON and anonymous_ids[pid] >= limit:
            return False
        owner[key] = pid
        plan.attach[key] = (pid, claim.timestamp, claim.message_id)
        if key[0] == ANON:
            anonymous_ids[pid] += 1
        return True

    def merge(a: int, b: int, key: list[Key], claim: IdentityClaim, reason: str) -> int:
        # The survivor: a profile that exists over one made in this batch, a known one over
        # an anonymous one, then the older one.
        survivor, loser = sorted((a, b), key=lambda p: (p < 0, not user_of.get(p), abs(p)))
        merged_into[loser] = survivor
        for k, pid in list(owner.items()):
            if pid == loser:
                owner[k] = survivor
                if k in plan.attach:
                    plan.attach[k] = (survivor, *plan.attach[k][1:])
        if not user_of.get(survivor) and user_of.get(loser):
            user_of[survivor] = user_of[loser]
            if survivor > 0:
                plan.user_set[survivor] = user_of[loser]
            else:
                plan.new_profiles[survivor] = user_of[loser]
        anonymous_ids[survivor] += anonymous_ids.get(loser, 0)
        if loser < 0:
            plan.new_profiles.pop(loser, None)
        else:
            plan.merges.append(_Merge(loser, survivor, key, claim.message_id, reason))
        return survivor

    def conflict(a: int, b: int) -> bool:
        ua, ub = user_of.get(a, ""), user_of.get(b, "")
        return bool(ua and ub and ua != ub)

    for claim in claims:
        keys = claim.keys()
        user_key = (USER, claim.user_id) if claim.user_id else None
        owners = []
        for key in keys:
            if key in owner and find(owner[key]) not in owners:
                owners.append(find(owner[key]))

        if user_key and user_key in owner:
            target = find(owner[user_key])
        elif user_key:
            # A new user id joins an anonymous profile among the event's, or starts its own.
            anonymous = [p for p in owners if not user_of.get(p)]
            if not anonymous:
                target = new_profile(claim.user_id)
            else:
                target = min(anonymous, key=lambda p: (p < 0, abs(p)))
                user_of[target] = claim.user_id
                if target > 0:
                    plan.user_set[target] = claim.user_id
                else:
                    plan.new_profiles[target] = claim.user_id
            attach(user_key, target, claim)
        elif owners:
            target = owners[0]
        else:
            target = new_profile("")

        for other in owners:
            other = find(other)
            target = find(target)
            if other == target or conflict(other, target):
                continue  # the guard: two known people stay two
            shared = [k for k in keys if k in owner and find(owner[k]) == other]
            target = merge(target, other, shared, claim, "identify" if claim.email else "event")

        if claim.previous_id:
            previous = [find(owner[k]) for k in claim.previous_keys() if k in owner]
            if not previous and claim.user_id and claim.previous_id != claim.anonymous_id:
                # A previous user id seen before any event of its own (the SDK's calls
                # crossed on the wire: the alias came in before the identify that sets it)
                # is remembered for this person, so its events arrive here, not in a new
                # profile the guard would then keep apart.
                attach((USER, claim.previous_id), find(target), claim)
            for other in previous:
                # Found again: an earlier merge of this loop may have folded it in already
                # (its previous id is both a user id and an anonymous id).
                other, target = find(other), find(target)
                if other != target:
                    target = merge(target, other, [(USER, claim.user_id)], claim, "alias")

        target = find(target)
        for key in keys:
            if key not in owner:
                attach(key, target, claim)
        plan.assignments.append(target)

    plan.assignments = [find(pid) for pid in plan.assignments]
    for key, (pid, at, message_id) in list(plan.attach.items()):
        plan.attach[key] = (find(pid), at, message_id)
    return plan


def profiles_resolve(*, claims: Sequence[IdentityClaim]) -> list[int]:
    """The profile of each claim's event, creating, extending and merging profiles as the
    ids require. Runs inside the caller's transaction."""
    if not claims:
        return []
    keys = {k for claim in claims for k in claim.keys() + claim.previous_keys()}
    known = _lookup(keys, count_anonymous=False)
    plan = _plan(claims, known)
    if plan.changes:
        locked = _unsettled_keys(claims, known)
        _lock(locked)
        # Only the locked ids can have changed in a way that matters; read them again.
        fresh = _lookup(locked, count_anonymous=True)
        owner = {k: pid for k, pid in known.owner.items() if k not in locked} | fresh.owner
        known = _Known(owner, known.user_of | fresh.user_of, fresh.anonymous_ids)
        plan = _plan(claims, known)
        _apply(plan)
    return plan.assignments


def _apply(plan: _Plan) -> None:
    # The existing profiles this batch changes are locked first, in id order, as every
    # other writer of profiles locks them: otherwise the statements below would lock them
    # in whatever order their rows come, and could wait in a circle with a worker.
    existing = {pid for pid in plan.user_set if pid > 0}
    existing |= {pid for _, (pid, _, _) in plan.attach.items() if pid > 0}
    for merge in plan.merges:
        existing |= {pid for pid in (merge.loser, merge.survivor) if pid > 0}
    # FOR UPDATE, not NO KEY UPDATE: a merge deletes the profile it folds in.
    profiles_lock(profile_ids=existing, no_key=False)
    created: dict[int, int] = {}
    if plan.new_profiles:
        temps = sorted(plan.new_profiles, reverse=True)
        pks = profiles_create(user_ids=[plan.new_profiles[t] for t in temps])
        created = dict(zip(temps, pks, strict=True))

    def real(pid: int) -> int:
        return created.get(pid, pid)

    for merge in plan.merges:
        profile_merge(
            loser_id=merge.loser,
            survivor_id=real(merge.survivor),
            linked_by=merge.linked_by,
            message_id=merge.message_id,
            reason=merge.reason,
        )
    if plan.attach:
        rows = sorted(plan.attach.items())
        with prepared_cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO profiles_identity (profile_id, namespace, value, first_seen, message_id)
                SELECT t.* FROM jsonb_to_recordset(%s::jsonb) AS t(
                    profile_id bigint, namespace text, value text, first_seen timestamptz,
                    message_id text
                )
                ON CONFLICT (namespace, value) DO NOTHING
                """,
                # One JSON text, encoded in C: arrays are adapted value by value in Python.
                [
                    json_text(
                        [
                            {
                                "profile_id": real(pid),
                                "namespace": key[0],
                                "value": key[1],
                                "first_seen": at,
                                "message_id": message_id,
                            }
                            for key, (pid, at, message_id) in rows
                        ]
                    )
                ],
            )
        emails = {real(pid): key[1] for key, (pid, _, _) in rows if key[0] == EMAIL}
        _fill_blank("email", emails)
    _fill_blank("user_id", plan.user_set)
    plan.assignments = [real(pid) for pid in plan.assignments]


_FILL_BLANK = {
    column: f"""
        UPDATE profiles_profile p SET {column} = t.value
          FROM jsonb_to_recordset(%s::jsonb) AS t(id bigint, value text)
         WHERE p.id = t.id AND p.{column} = ''
    """  # noqa: S608 - the two column names below, never input
    for column in ("email", "user_id")
}


def _fill_blank(column: str, values: dict[int, str]) -> None:
    """Set a column on profiles where it is still blank, in one statement (a `CASE WHEN id
    = …` per profile would cost the square of the batch)."""
    if not values:
        return
    document = json_text([{"id": pk, "value": values[pk]} for pk in sorted(values)])
    with prepared_cursor() as cursor:
        cursor.execute(_FILL_BLANK[column], [document])


def profile_merge(
    *, loser_id: int, survivor_id: int, linked_by: list[Key], message_id: str, reason: str
) -> ProfileMerge:
    """Fold one profile into another: its ids, events, orders, notes and consent history
    move to the survivor, traits combine (newer values win) and so do the computed
    attributes; the merge is recorded, and the merged profile is deleted.

    Ingestion, below profiles, moves its events when called (a higher layer calls a lower
    one's services); the apps above receive `profile_merged`."""
    # Locked in id order, as the computed-attributes processor locks them: no deadlock.
    locked = {
        p.pk: p
        for p in Profile.objects.select_for_update()
        .filter(pk__in=[loser_id, survivor_id])
        .order_by("pk")
    }
    loser, survivor = locked[loser_id], locked[survivor_id]
    identities = list(loser.identities.values_list("namespace", "value"))
    Identity.objects.filter(profile_id=loser_id).update(profile_id=survivor_id)
    events_move_to_profile(from_profile_id=loser_id, to_profile_id=survivor_id)
    for related in (Order, ConsentChange, ProfileNote):
        related.objects.filter(profile_id=loser_id).update(profile_id=survivor_id)
    traits, times = dict(survivor.traits), dict(survivor.trait_times)
    for key, value in loser.traits.items():
        if key not in times or loser.trait_times.get(key, "") > times[key]:
            traits[key] = value
            times[key] = loser.trait_times.get(key, "")
    survivor.traits, survivor.trait_times = traits, times
    survivor.user_id = survivor.user_id or loser.user_id
    survivor.email = survivor.email or loser.email
    profile_computed_merge(survivor=survivor, loser=loser)
    survivor.save(update_fields=["user_id", "email", *COMPUTED_FIELDS])
    ProfileMerge.objects.filter(survivor_id=loser_id).update(survivor_id=survivor_id)
    profile_merged.send(sender=Profile, loser_id=loser_id, survivor_id=survivor_id)
    record = ProfileMerge.objects.create(
        survivor=survivor,
        merged_profile_id=loser_id,
        identities=[list(i) for i in identities],
        linked_by=[list(k) for k in linked_by],
        message_id=message_id,
        reason=reason,
        merged_at=timezone.now(),
    )
    loser.delete()
    logger.info("profile_merged survivor=%s merged=%s reason=%s", survivor_id, loser_id, reason)
    return record


def profiles_lock(*, profile_ids: Iterable[int], no_key: bool = True) -> None:
    """Lock profiles for the rest of the transaction, in id order: the order every writer
    of profiles takes them in (merges, the computed-attributes processor, deletions), so
    none waits for another in a circle.

    NO KEY UPDATE by default: the events' foreign-key checks (KEY SHARE, taken by an ingest
    transaction as it commits) do not wait for it, nor it for them."""
    ids = sorted(set(profile_ids))
    if ids:
        with prepared_cursor() as cursor:
            cursor.execute(_LOCK_PROFILES[no_key], [json_text(ids)])


# Written out, not compiled by the ORM: ingest locks profiles on every request that changes
# someone. The ids travel as one JSON text, encoded in C.
_LOCK_PROFILES = {
    no_key: f"""
        SELECT p.id FROM profiles_profile p
        WHERE p.id IN (SELECT value::bigint FROM jsonb_array_elements_text(%s::jsonb))
        ORDER BY p.id FOR {"NO KEY UPDATE" if no_key else "UPDATE"}
    """  # noqa: S608 - one of two fixed clauses, never input
    for no_key in (True, False)
}


def _create_statement() -> tuple[str, list[Any]]:
    """`INSERT` of new profiles: their user ids (one array) and every other column's default
    (one constant each), whatever the batch's size."""
    columns: list[str] = []
    values: list[str] = []
    constants: list[tuple[str, str, Any]] = []
    for model_field in Profile._meta.concrete_fields:
        if model_field.primary_key:
            continue
        assert model_field.column is not None  # a concrete field has its column
        columns.append(model_field.column)
        if model_field.name == "user_id":
            values.append("t.user_id")
            continue
        kind = sql_type(model_field)
        values.append(f"%s::{kind}")
        default = model_field.get_default()
        if model_field.name == "created_at":
            default = None  # filled per statement: now
        constants.append((model_field.name, kind, default))
    sql = (
        f"INSERT INTO profiles_profile ({', '.join(columns)}) "  # noqa: S608 - model columns
        f"SELECT {', '.join(values)} "
        "FROM jsonb_array_elements_text(%s::jsonb) WITH ORDINALITY AS t(user_id, n) "
        "ORDER BY t.n RETURNING id"
    )
    return sql, constants


def profiles_create(*, user_ids: list[str]) -> list[int]:
    """Create one profile per user id ("" for an anonymous one) in one statement; returns
    their ids in the same order (ids come from the sequence in the order rows are
    inserted, which `ORDER BY` fixes)."""
    sql, constants = _create_statement()
    now = timezone.now()
    params: list[Any] = []
    for name, kind, default in constants:
        if name == "created_at":
            params.append(now)
        elif kind == "jsonb":
            params.append(json.dumps(default))
        else:
            params.append(default)
    # The user ids come last in the statement: after every column's constant.
    with prepared_cursor() as cursor:
        cursor.execute(sql, [*params, json_text(user_ids)])
        return sorted(row[0] for row in cursor.fetchall())
