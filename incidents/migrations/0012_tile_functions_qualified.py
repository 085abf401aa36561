"""The tile key's functions name PostGIS's ST_X and ST_Y by their schema: pg_restore runs with an empty
search_path, and the stored generated columns (0011) call these functions for every case it copies back — a
backup would not restore (tested by tests/test_backup.py)."""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION incidents_world_x(g geometry) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(greatest(floor((public.st_x(g) + 180.0) / 360.0 * 16777216.0), 0), 16777215)::integer
$$;
CREATE OR REPLACE FUNCTION incidents_world_y(g geometry) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(greatest(floor((1.0 - ln(tan(radians(least(greatest(public.st_y(g), -85.0511), 85.0511)))
                                          + 1.0 / cos(radians(least(greatest(public.st_y(g), -85.0511), 85.0511))))
                                 / pi()) / 2.0 * 16777216.0), 0), 16777215)::integer
$$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("incidents", "0011_case_tile_key"),
    ]

    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
