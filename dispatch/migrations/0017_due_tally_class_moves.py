from django.conf import settings
from django.db import migrations

# A subclass moved to another major class (the catalogue's admin, a catalogue reload) takes its cases' due
# contributions with it: the old class's rows out, the new class's in, in the statement that moves it — otherwise
# the tally would keep them under the old class until each case changed again (dispatch 0016, DueTally).
TZ = settings.TIME_ZONE
NOT_DUE = "'cancelled', 'merged', 'rejected', 'reported'"  # as dispatch 0016


def moved(major: str, sign: int) -> str:
    return f"""
    SELECT (least(r.deadline, r.closed_at) AT TIME ZONE '{TZ}')::date, r.district_id, {major},
           (r.deadline AT TIME ZONE '{TZ}')::date,
           CASE WHEN r.status = 'closed' THEN (r.closed_at AT TIME ZONE '{TZ}')::date END,
           (r.processed_at AT TIME ZONE '{TZ}')::date, COALESCE(r.processed_at <= r.deadline, false), {sign}
    FROM incidents_case r
    WHERE r.category_id = NEW.id AND least(r.deadline, r.closed_at) IS NOT NULL AND r.status NOT IN ({NOT_DUE})"""


FORWARD = f"""
CREATE FUNCTION dispatch_due_tally_class_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dispatch_duetally (day, district_id, major_id, deadline_day, closed_day, processed_day,
                                   processed_by_deadline, n)
    SELECT day, district_id, major_id, deadline_day, closed_day, processed_day, processed_by_deadline, sum(n)
    FROM ({moved("COALESCE(OLD.parent_id, OLD.id)", -1)} UNION ALL {moved("COALESCE(NEW.parent_id, NEW.id)", 1)})
         x (day, district_id, major_id, deadline_day, closed_day, processed_day, processed_by_deadline, n)
    GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(n) <> 0;
    RETURN NULL;
END $$;
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
