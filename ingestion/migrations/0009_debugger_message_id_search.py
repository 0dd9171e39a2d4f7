# The debugger's search by message id. Built concurrently: the events table is the big one,
# and ingest must keep writing while the index is built.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ingestion", "0008_drop_redundant_fk_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="event",
            index=models.Index(fields=["message_id"], name="event_message_id"),
        ),
        AddIndexConcurrently(
            model_name="refusal",
            index=models.Index(
                condition=models.Q(("message_id", ""), _negated=True),
                fields=["message_id"],
                name="refusal_message_id",
            ),
        ),
    ]
