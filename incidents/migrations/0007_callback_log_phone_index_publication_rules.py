from django.db import migrations

IMMUTABLE_CALLBACKS = """
CREATE FUNCTION incidents_callback_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'callbacks are append-only: % is not allowed', TG_OP;
END $$;
CREATE TRIGGER incidents_callback_no_update_delete BEFORE UPDATE OR DELETE ON incidents_callback
    FOR EACH ROW EXECUTE FUNCTION incidents_callback_immutable();
"""

# The hotline desk looks up a caller's earlier cases by the digits of the number as it is typed (a prefix):
# an index on the digits alone, for the cases that have a number at all.
PHONE_DIGITS_INDEX = r"""
CREATE INDEX case_contact_digits_idx ON incidents_case
    (regexp_replace(contact_phone, '\D', '', 'g') text_pattern_ops) WHERE contact_phone <> '';
"""


def load_rules(apps, schema_editor):
    # What the city publishes as shipped (incidents.publication.DEFAULT_RULES); the administrator changes it.
    from incidents.publication import load_default_rules

    load_default_rules(apps.get_model("incidents", "PublicationRule"), apps.get_model("incidents", "Category"))


class Migration(migrations.Migration):
    dependencies = [("incidents", "0006_callback_publication")]

    operations = [
        migrations.RunSQL(IMMUTABLE_CALLBACKS, """
            DROP TRIGGER incidents_callback_no_update_delete ON incidents_callback;
            DROP FUNCTION incidents_callback_immutable();"""),
        migrations.RunSQL(PHONE_DIGITS_INDEX, "DROP INDEX case_contact_digits_idx;"),
        migrations.RunPython(load_rules, migrations.RunPython.noop),
    ]
