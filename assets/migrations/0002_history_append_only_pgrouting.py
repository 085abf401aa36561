from django.db import migrations

# As the case log: the history of a component is appended to, never rewritten, even by the owner.
IMMUTABLE_LOG = """
CREATE FUNCTION assets_componentlog_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a component''s history is append-only: % is not allowed', TG_OP;
END $$;
CREATE TRIGGER assets_componentlog_no_update_delete BEFORE UPDATE OR DELETE ON assets_componentlog
    FOR EACH ROW EXECUTE FUNCTION assets_componentlog_immutable();
"""

# pgRouting is not a trusted extension: the administrator creates it with the database (citygrid.dbroles.
# create_database); this only checks it is there, so that a database made without it fails here, saying so.
PGROUTING = """
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgrouting') THEN
        CREATE EXTENSION pgrouting;
    END IF;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("assets", "0001_initial")]

    operations = [
        migrations.RunSQL(IMMUTABLE_LOG, """
            DROP TRIGGER assets_componentlog_no_update_delete ON assets_componentlog;
            DROP FUNCTION assets_componentlog_immutable();"""),
        migrations.RunSQL(PGROUTING, migrations.RunSQL.noop),
    ]
