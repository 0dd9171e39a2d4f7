from django.db import migrations

# A cast that answers NULL instead of failing, for event values that look like a date but are
# not one ("2026-02-31"): a segment over drifted data must never fail as a whole. A value
# with no offset ("2026-11-25", "2026-11-25T10:00") is read in `zone`, the site's time zone,
# as the dates a marketer types are. PARALLEL UNSAFE: the exception handler opens a
# subtransaction, which a parallel worker may not.
CREATE = r"""
CREATE OR REPLACE FUNCTION cdp_try_timestamptz(value text, zone text) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL UNSAFE AS $$
BEGIN
    IF value ~ '[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN
        RETURN value::timestamptz;
    END IF;
    RETURN value::timestamp AT TIME ZONE zone;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
"""
DROP = "DROP FUNCTION IF EXISTS cdp_try_timestamptz(text, text);"


class Migration(migrations.Migration):
    dependencies = [("segments", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
