""""Only once per person" becomes a constraint: each person's first enrollment in a campaign
that takes people once is marked `once`, and at most one per campaign and person may be."""

from django.db import migrations, models
from django.db.models import Q

MARK_FIRST_ENTRIES = """
    UPDATE campaigns_enrollment SET once = true WHERE id IN (
        SELECT DISTINCT ON (e.campaign_id, e.profile_id) e.id
        FROM campaigns_enrollment e
        JOIN campaigns_campaign c ON c.id = e.campaign_id
        WHERE c.reentry = 'once'
        ORDER BY e.campaign_id, e.profile_id, e.id
    )
"""


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_email_suppression"),
    ]

    operations = [
        migrations.AddField(
            model_name="enrollment",
            name="once",
            field=models.BooleanField(default=False),
        ),
        migrations.RunSQL(MARK_FIRST_ENTRIES, migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name="enrollment",
            constraint=models.UniqueConstraint(
                condition=Q(once=True),
                fields=("campaign", "profile"),
                name="enrollment_once_per_person",
            ),
        ),
    ]
