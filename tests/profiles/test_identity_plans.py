"""Identity resolution's statements keep their plan whatever the planner believes of the ids
table: in a new store's first minute it has never been analyzed, and a plan chosen on
statistics that saw few anonymous ids would read all of them for every batch."""

from __future__ import annotations

import pytest
from django.db import connection

from cdp_project.core.jsontext import json_text
from profiles import identity
from profiles.identity import ANON, USER, profiles_create

PEOPLE = 300
ANONYMOUS = 20_000


@pytest.mark.django_db
def test_counting_a_batchs_anonymous_ids_probes_each_profile_whatever_the_statistics():
    people = profiles_create(user_ids=[f"user-{n}" for n in range(PEOPLE)])
    (visitor,) = profiles_create(user_ids=[""])
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO profiles_identity (profile_id, namespace, value, first_seen, message_id)
            SELECT id, %s, 'user-' || id, now(), '' FROM unnest(%s::bigint[]) AS id
            """,
            [USER, people],
        )
        # Statistics that saw user ids only, then many anonymous ids the planner has not
        # seen, all on one visitor's profile, and two on the first person's.
        cursor.execute("ANALYZE profiles_identity")
        cursor.execute(
            """
            INSERT INTO profiles_identity (profile_id, namespace, value, first_seen, message_id)
            SELECT %s, %s, 'visitor-' || n, now(), '' FROM generate_series(1, %s) AS n
            UNION ALL
            SELECT %s, %s, 'device-' || n, now(), '' FROM generate_series(1, 2) AS n
            """,
            [visitor, ANON, ANONYMOUS, people[0], ANON],
        )
        params = [json_text(people), ANON]
        cursor.execute(f"EXPLAIN {identity._COUNT_ANONYMOUS}", params)
        plans = ["\n".join(row[0] for row in cursor.fetchall())]
        # Ingest runs it prepared on the server, where Postgres may settle on a generic plan.
        numbered = identity._COUNT_ANONYMOUS.replace("%s", "$1", 1).replace("%s", "$2", 1)
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE count_anonymous (text, text) AS {numbered}")
        cursor.execute("EXPLAIN EXECUTE count_anonymous (%s, %s)", params)
        plans.append("\n".join(row[0] for row in cursor.fetchall()))
        cursor.execute("DEALLOCATE count_anonymous")
        cursor.execute(identity._COUNT_ANONYMOUS, params)
        counts = dict(cursor.fetchall())

    for plan in plans:
        assert "identity_profile" in plan, plan
        assert "identity_unique" not in plan, plan
        assert "Seq Scan on profiles_identity" not in plan, plan
    # Every profile asked about, with its own anonymous ids only.
    assert counts == {pk: (2 if pk == people[0] else 0) for pk in people}
