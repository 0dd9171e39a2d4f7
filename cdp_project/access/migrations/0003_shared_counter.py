from django.db import migrations, models

# Counts every web process shares (login failures, ingest rate limits) when no Redis cache
# is configured: cdp_project/core/counters.py. UNLOGGED: no write-ahead log per count, and a
# crash of Postgres empties it (the counts start over, which a limit can afford).
CREATE = """
CREATE UNLOGGED TABLE shared_counter (
    name text PRIMARY KEY,
    value bigint NOT NULL,
    expires_at double precision NOT NULL
)
"""


class Migration(migrations.Migration):
    dependencies = [("access", "0002_read_only_marketer_group")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(CREATE, "DROP TABLE shared_counter")],
            state_operations=[
                migrations.CreateModel(
                    name="SharedCounter",
                    fields=[
                        ("name", models.TextField(primary_key=True, serialize=False)),
                        ("value", models.BigIntegerField()),
                        ("expires_at", models.FloatField()),
                    ],
                    options={"db_table": "shared_counter"},
                )
            ],
        )
    ]
