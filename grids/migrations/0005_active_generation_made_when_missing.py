"""A database emptied whole (Django's flush, between the tests that run a live server) has no generation left, and
the first area or cell written would have none: the default function makes the first generation, active, when
none is — what the migration did for the rows that existed then."""

from django.db import migrations

MAKE = """
CREATE OR REPLACE FUNCTION grids_active_generation() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    found bigint;
BEGIN
    SELECT id INTO found FROM grids_generation WHERE active;
    IF found IS NULL THEN
        INSERT INTO grids_generation (created, active, activated_at, description)
        VALUES (now(), true, now(), 'initial') RETURNING id INTO found;
    END IF;
    RETURN found;
END
$$
"""

LOOK = """
CREATE OR REPLACE FUNCTION grids_active_generation() RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT id FROM grids_generation WHERE active $$
"""


class Migration(migrations.Migration):
    dependencies = [("grids", "0004_generations")]
    operations = [migrations.RunSQL(MAKE, LOOK)]
