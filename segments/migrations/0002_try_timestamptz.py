from django.db import migrations

# A cast that answers NULL instead of failing, for event values that look like a date but are
# not one ("2026-02-31"): a segment over drifted data must never fail as a whole.
CREATE = """
CREATE OR REPLACE FUNCTION cdp_try_timestamptz(value text) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN value::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
"""
DROP = "DROP FUNCTION IF EXISTS cdp_try_timestamptz(text);"


class Migration(migrations.Migration):
    dependencies = [("segments", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
