from django.db import migrations

APPEND_ONLY = """
CREATE FUNCTION citygrid_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % is not allowed', TG_OP;
END $$;
CREATE TRIGGER citygrid_auditevent_no_update_delete BEFORE UPDATE OR DELETE ON citygrid_auditevent
    FOR EACH ROW EXECUTE FUNCTION citygrid_audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("citygrid", "0003_auditevent")]

    operations = [migrations.RunSQL(APPEND_ONLY, """
        DROP TRIGGER citygrid_auditevent_no_update_delete ON citygrid_auditevent;
        DROP FUNCTION citygrid_audit_append_only();""")]
