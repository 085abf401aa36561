import importlib

from django.db import migrations

# A subclass moved to another major class (the catalogue's admin, a catalogue reload) takes its cases' due
# contributions with it: the old class's rows out, the new class's in, in the statement that moves it — otherwise
# the tally would keep them under the old class until each case changed again. The rows are dispatch 0016's.
due = importlib.import_module("dispatch.migrations.0016_due_tally")
OF_SUBCLASS = " AND r.category_id = NEW.id"
FORWARD = due.function("dispatch_due_tally_class_moved", [
    due.contribution("incidents_case", -1, major="COALESCE(OLD.parent_id, OLD.id)", only=OF_SUBCLASS),
    due.contribution("incidents_case", 1, major="COALESCE(NEW.parent_id, NEW.id)", only=OF_SUBCLASS),
]) + """
CREATE TRIGGER dispatch_due_tally_class_moved AFTER UPDATE OF parent_id ON incidents_category FOR EACH ROW
    WHEN (OLD.parent_id IS DISTINCT FROM NEW.parent_id) EXECUTE FUNCTION dispatch_due_tally_class_moved();
"""
REVERSE = """
DROP TRIGGER dispatch_due_tally_class_moved ON incidents_category;
DROP FUNCTION dispatch_due_tally_class_moved();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('dispatch', '0016_due_tally'),
    ]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
