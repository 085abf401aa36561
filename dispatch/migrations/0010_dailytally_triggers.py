from django.conf import settings
from django.db import migrations

# Statement-level triggers with transition tables: one aggregated upsert per INSERT statement, whether it
# adds one case (intake) or a million (generated history). Days are local days of TIME_ZONE.
TZ = settings.TIME_ZONE

REPORTED = f"""
SELECT (n.created_at AT TIME ZONE '{TZ}')::date, n.district_id, n.community_id, COALESCE(k.parent_id, k.id),
       count(*), 0, 0, 0
FROM {{source}} n JOIN incidents_category k ON k.id = n.category_id
GROUP BY 1, 2, 3, 4
"""
DONE = f"""
SELECT (l.created_at AT TIME ZONE '{TZ}')::date, c.district_id, c.community_id, COALESCE(k.parent_id, k.id), 0,
       count(*) FILTER (WHERE l.action = 'close'), count(*) FILTER (WHERE l.action = 'process'),
       count(*) FILTER (WHERE l.action = 'process' AND l.deadline_met IS NOT FALSE)
FROM {{source}} l JOIN incidents_case c ON c.id = l.case_id JOIN incidents_category k ON k.id = c.category_id
WHERE l.action IN ('close', 'process')
GROUP BY 1, 2, 3, 4
"""
UPSERT = """
INSERT INTO dispatch_dailytally (day, district_id, community_id, major_id, reported, closed, processed, on_time)
{select}
ON CONFLICT ON CONSTRAINT dailytally_unique_key DO UPDATE SET
    reported = dispatch_dailytally.reported + EXCLUDED.reported,
    closed = dispatch_dailytally.closed + EXCLUDED.closed,
    processed = dispatch_dailytally.processed + EXCLUDED.processed,
    on_time = dispatch_dailytally.on_time + EXCLUDED.on_time;
"""

FORWARD = f"""
CREATE FUNCTION dispatch_tally_reported() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {UPSERT.format(select=REPORTED.format(source="new_rows"))}
    RETURN NULL;
END $$;
CREATE TRIGGER dispatch_tally_case AFTER INSERT ON incidents_case
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dispatch_tally_reported();
CREATE FUNCTION dispatch_tally_done() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {UPSERT.format(select=DONE.format(source="new_rows"))}
    RETURN NULL;
END $$;
CREATE TRIGGER dispatch_tally_log AFTER INSERT ON incidents_caselog
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dispatch_tally_done();
{UPSERT.format(select=REPORTED.format(source="incidents_case"))}
{UPSERT.format(select=DONE.format(source="incidents_caselog"))}
"""

BACKWARD = """
DROP TRIGGER dispatch_tally_case ON incidents_case;
DROP FUNCTION dispatch_tally_reported();
DROP TRIGGER dispatch_tally_log ON incidents_caselog;
DROP FUNCTION dispatch_tally_done();
DELETE FROM dispatch_dailytally;
"""


class Migration(migrations.Migration):
    dependencies = [("dispatch", "0009_dailytally"), ("incidents", "0004_case_status_since_caselog_deadline_met_and_more")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
