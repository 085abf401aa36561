import importlib

from django.conf import settings
from django.db import migrations

# The daily tallies' trigger on the case log, two changes for intake and for a long history:
# - most statements write no closing and no processing step (every report writes a `report` step): they return
#   before the join, as the processing times' trigger does;
# - a counted step finds its case through the case key, whose report time lets PostgreSQL read only the case's
#   month (pruned at run time) instead of probing the id in every monthly partition.
# The counts are those of dispatch 0013 (deadline_met IS TRUE counts as on time).
FORWARD = """
CREATE OR REPLACE FUNCTION dispatch_tally_done() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows WHERE action IN ('close', 'process')) THEN
        RETURN NULL;
    END IF;
    INSERT INTO dispatch_dailytally (day, district_id, community_id, major_id, reported, closed, processed, on_time)
    SELECT (l.created_at AT TIME ZONE '%(tz)s')::date, c.district_id, c.community_id, COALESCE(k.parent_id, k.id), 0,
           count(*) FILTER (WHERE l.action = 'close'), count(*) FILTER (WHERE l.action = 'process'),
           count(*) FILTER (WHERE l.action = 'process' AND l.deadline_met IS TRUE)
    FROM new_rows l JOIN incidents_casekey ck ON ck.id = l.case_id
         JOIN incidents_case c ON c.id = ck.id AND c.created_at = ck.created_at
         JOIN incidents_category k ON k.id = c.category_id
    WHERE l.action IN ('close', 'process')
    GROUP BY 1, 2, 3, 4
    HAVING count(*) > 0;
    RETURN NULL;
END $$;
""" % {"tz": settings.TIME_ZONE}
REVERSE = importlib.import_module("dispatch.migrations.0013_bulletin_evaluation_as_published").TALLY % {
    "tz": settings.TIME_ZONE, "met": "TRUE"}


class Migration(migrations.Migration):

    dependencies = [
        ('dispatch', '0017_due_tally_class_moves'),
        ('incidents', '0013_partitioned_cases'),
    ]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
