"""The duplicate search's kept plan never goes parallel, and names its schemas.

A generic plan is costed over every month's partition, pruned only when it runs: at 10 M cases (bench/growth.py, 27
November 2026) that cost passed the parallel threshold, and every report's search started two parallel workers to
read one small month — 13.7 ms, against 0.04 ms for the same scan alone (EXPLAIN ANALYZE on that database), and
intake fell from 299 cases/s at 1 M to 74 at 10 M. The search reads a box of one or two months: it never needs them.
search_path pinned like the application's other functions.
"""

from django.db import migrations

SIGNATURE = ("incidents_open_cases_near(bigint, bigint, timestamptz, timestamptz, text[], double precision, "
             "double precision, double precision, double precision, integer)")


class Migration(migrations.Migration):
    dependencies = [("incidents", "0023_open_cases_near")]

    operations = [migrations.RunSQL(
        [f"ALTER FUNCTION {SIGNATURE} SET max_parallel_workers_per_gather = 0",
         f"ALTER FUNCTION {SIGNATURE} SET search_path = pg_catalog, public"],
        [f"ALTER FUNCTION {SIGNATURE} RESET max_parallel_workers_per_gather",
         f"ALTER FUNCTION {SIGNATURE} RESET search_path"])]
