"""Drop the source indexes of events and message keys: `event_source_latest` and
`message_key_unique` both start with the source and serve the same look-ups, and every
index costs each ingested row a write. Only the indexes go: the foreign keys stay as they
are (altering the fields through Django would drop and re-validate them on a large table)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0007_event_hour_rollup"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="source",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="events",
                        to="ingestion.source",
                    ),
                ),
                migrations.AlterField(
                    model_name="messagekey",
                    name="source",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="ingestion.source",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS ingestion_event_source_id_2635b39c",
                    "CREATE INDEX ingestion_event_source_id_2635b39c"
                    " ON ingestion_event (source_id)",
                ),
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS ingestion_messagekey_source_id_095e656e",
                    "CREATE INDEX ingestion_messagekey_source_id_095e656e"
                    " ON ingestion_messagekey (source_id)",
                ),
            ],
        ),
    ]
