from django.db import migrations

# The retention period lives in the database beside the trigger that enforces it, so that no application
# setting or code path can delete a trace younger than 180 days.
RETENTION = """
CREATE TABLE citygrid_audit_retention (
    id integer PRIMARY KEY CHECK (id = 1),
    days integer NOT NULL CHECK (days >= 180)
);
INSERT INTO citygrid_audit_retention VALUES (1, 180);
CREATE OR REPLACE FUNCTION citygrid_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.at < now() - make_interval(
            days => (SELECT days FROM citygrid_audit_retention WHERE id = 1)) THEN
        RETURN OLD;  -- past its retention period
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % is not allowed', TG_OP;
END $$;
"""

BACK = """
CREATE OR REPLACE FUNCTION citygrid_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % is not allowed', TG_OP;
END $$;
DROP TABLE citygrid_audit_retention;
"""


class Migration(migrations.Migration):
    dependencies = [("citygrid", "0005_staffprofile_must_change_password")]

    operations = [migrations.RunSQL(RETENTION, BACK)]
