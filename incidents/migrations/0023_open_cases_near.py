"""The duplicate search as a function with a plan of its own, made once per connection.

Intake asks it for every report. Planned each time as plain SQL it cost 0.76 ms of planning against 0.07 ms to run
(pg_stat_statements under bench/intake.py: the largest single cost of a report in the database). Prepared, its
generic plan — blind to how few cases lie in the box and how many in the hours — took the time index (a bitmap AND
with the box, or the subclass's index) and read every case of the window. Here the plan is generic and kept:
bitmap scans are off for this function only, and the subclass is compared as an expression, so that neither path
is open; a plain scan of the time index still is, and tests/test_duplicates.py checks that the plan reads each
month's partition through the spatial index (the box: the radius and half again, about ±75 m) and prunes the months
outside the window when it runs. The time window is a filter on what the box holds: at a spot reported again and
again, every case of the month in the box is read (how many at a city's busiest corner was not measured).

A plan is made for the statistics of its hour: a month planned while its partition was empty (a new database; a
connection opened before midnight on the 1st) reads the whole month, which is nothing at first, until autovacuum's
first analysis of the month — by PostgreSQL's defaults once 50 reports are in, at its next round a minute apart —
invalidates the plan in every session (seen: a plan remade after another session's ANALYZE), at the latest when the
connection is renewed (CONN_MAX_AGE).
bench/growth.py measures intake on a new database both before and after that first analysis.

Measured with a 12-second intake run (3 workers × 8 threads, 8 clients) on a database of about 6,000 cases, its
month analysed: 253 → 325 cases/s. tests/test_duplicates.py reads the plan from the function's own text. 0024 keeps
the plan from going parallel, as it did at 10 M cases.
"""

from django.db import migrations

FUNCTION = """
CREATE FUNCTION incidents_open_cases_near(p_category bigint, p_exclude bigint, p_start timestamptz,
                                          p_end timestamptz, p_final text[], p_x double precision,
                                          p_y double precision, p_degrees double precision,
                                          p_radius double precision, p_limit integer)
RETURNS TABLE (id bigint, number varchar)
LANGUAGE plpgsql STABLE
SET enable_bitmapscan = off
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT c.id, c.number FROM incidents_case c
    WHERE c.category_id + 0 = p_category AND c.id <> p_exclude AND c.created_at BETWEEN p_start AND p_end
      AND NOT (c.status = ANY(p_final))
      AND ST_DWithin(c.location, ST_SetSRID(ST_MakePoint(p_x, p_y), 4326), p_degrees)
      AND ST_DistanceSphere(c.location, ST_SetSRID(ST_MakePoint(p_x, p_y), 4326)) <= p_radius
    ORDER BY c.created_at, c.id
    LIMIT p_limit;
END
$$;
"""

SIGNATURE = ("incidents_open_cases_near(bigint, bigint, timestamptz, timestamptz, text[], double precision, "
             "double precision, double precision, double precision, integer)")


class Migration(migrations.Migration):
    dependencies = [("incidents", "0022_caselog_place_in_batches")]

    operations = [migrations.RunSQL(FUNCTION, f"DROP FUNCTION {SIGNATURE}")]
