from django.db import migrations


def create_defaults(apps, schema_editor):
    from campaigns.defaults import campaigns_setup

    campaigns_setup(apps.get_model("campaigns", "Campaign"))


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
