"""What segments do when other apps change people."""

from __future__ import annotations

from typing import Any

from django.db import connection

from segments.models import Membership, MembershipChange

# The survivor keeps the earlier entry of a segment both were in, and takes the merged
# profile's other memberships and its history of entries and exits, so a merge is not an
# entry (campaigns that trigger on entry do not fire for it).
_MERGE = """
WITH earlier AS (
    UPDATE {membership} AS kept SET entered_at = LEAST(kept.entered_at, gone.entered_at)
    FROM {membership} AS gone
    WHERE kept.profile_id = %(survivor)s AND gone.profile_id = %(loser)s
      AND gone.segment_id = kept.segment_id
    RETURNING kept.segment_id
)
UPDATE {membership} SET profile_id = %(survivor)s
WHERE profile_id = %(loser)s
  AND segment_id NOT IN (SELECT segment_id FROM {membership} WHERE profile_id = %(survivor)s)
"""


def memberships_merge(sender: Any, *, loser_id: int, survivor_id: int, **kwargs: Any) -> None:
    """Receiver of `profiles.signals.profile_merged`."""
    sql = _MERGE.format(membership=Membership._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"survivor": survivor_id, "loser": loser_id})
    MembershipChange.objects.filter(profile_id=loser_id).update(profile_id=survivor_id)
