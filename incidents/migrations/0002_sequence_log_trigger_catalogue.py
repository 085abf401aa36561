from django.db import migrations


def load(apps, schema_editor):
    from incidents.catalogue import load_catalogue

    load_catalogue(apps.get_model("incidents", "Category"), apps.get_model("incidents", "TimeLimit"))


IMMUTABLE_LOG = """
CREATE FUNCTION incidents_caselog_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the case log is append-only: % is not allowed', TG_OP;
END $$;
CREATE TRIGGER incidents_caselog_no_update_delete BEFORE UPDATE OR DELETE ON incidents_caselog
    FOR EACH ROW EXECUTE FUNCTION incidents_caselog_immutable();
"""


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]

    operations = [
        migrations.RunSQL("CREATE SEQUENCE incidents_case_number_seq",
                          "DROP SEQUENCE incidents_case_number_seq"),
        migrations.RunSQL(IMMUTABLE_LOG, """
            DROP TRIGGER incidents_caselog_no_update_delete ON incidents_caselog;
            DROP FUNCTION incidents_caselog_immutable();"""),
        migrations.RunPython(load, migrations.RunPython.noop),
    ]
