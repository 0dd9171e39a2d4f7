"""Drop the foreign key's own index on identities' profile: `identity_profile` is the same
index. The foreign key stays as it is."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0004_order_placed_at"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="identity",
                    name="profile",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="identities",
                        to="profiles.profile",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS profiles_identity_profile_id_66c2e55a",
                    "CREATE INDEX profiles_identity_profile_id_66c2e55a"
                    " ON profiles_identity (profile_id)",
                ),
            ],
        ),
    ]
