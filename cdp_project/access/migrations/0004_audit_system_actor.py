from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0003_shared_counter"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="system_actor",
            field=models.CharField(blank=True, max_length=100),
        ),
    ]
