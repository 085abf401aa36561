from django.db import migrations

# An entry written without its place — raw SQL, bulk_create, or a process of the release before still running
# after the migration (install.sh migrates without restarting what is right) — takes it from its case in the
# database, so that no step drops out of the figures by place (CaseLog.save fills it for the product's own
# writes; this trigger fires only when the place is missing).
FORWARD = """
CREATE FUNCTION incidents_caselog_place() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz;
BEGIN
    SELECT created_at INTO at FROM incidents_casekey WHERE id = NEW.case_id;
    SELECT district_id, street_id, cell_id INTO NEW.district_id, NEW.street_id, NEW.cell_id
    FROM incidents_case WHERE id = NEW.case_id AND created_at = at;
    RETURN NEW;
END $$;
CREATE TRIGGER incidents_caselog_place BEFORE INSERT ON incidents_caselog FOR EACH ROW
    WHEN (NEW.district_id IS NULL) EXECUTE FUNCTION incidents_caselog_place();
"""
REVERSE = """
DROP TRIGGER incidents_caselog_place ON incidents_caselog;
DROP FUNCTION incidents_caselog_place();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0015_caselog_place'),
    ]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
