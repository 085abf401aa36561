import importlib

from django.conf import settings
from django.db import migrations

# The archived cases' keys leave after the move, in batches of their own transactions (incidents.archive.finish_keys).
# Deleting a key checks every foreign key that points at it (eleven), two of them on partitioned tables (the log's
# case, a case's merged_into) where each check probes every month's partition: for a million-case month, 129 s of
# `SET CONSTRAINTS ALL IMMEDIATE` at the end of the move, under the partitions' detach locks, so reports waited as
# long (README "Growth"). The move now writes the keys it leaves behind into archive.pending_keys; the batches
# take row locks only.
PREVIOUS = importlib.import_module("incidents.migrations.0019_case_archive_mends").FORWARD

MOVE_KEYS = """    cols := incidents_archive_table('incidents_casekey');
    EXECUTE format('WITH moved AS (DELETE FROM public.incidents_casekey WHERE id IN '
                   '(SELECT id FROM archive_moved_incidents_casekey) RETURNING *) '
                   'INSERT INTO archive.incidents_casekey (%s) SELECT %s FROM moved', cols, cols);
    GET DIAGNOSTICS n = ROW_COUNT;
    tbl := 'incidents_casekey'; moved := n; RETURN NEXT;
"""
PEND_KEYS = """    -- The keys stay for now, written down: they leave in batches once this transaction is over
    -- (incidents_archive_keys). Until then a key names a case that is no longer live.
    PERFORM incidents_archive_table('incidents_casekey');
    INSERT INTO archive.pending_keys SELECT id FROM archive_moved_incidents_casekey ON CONFLICT DO NOTHING;
"""
MAKE_CLEARED = """    IF to_regclass('archive.cleared_references') IS NULL THEN"""
MAKE_PENDING = """    IF to_regclass('archive.pending_keys') IS NULL THEN
        CREATE TABLE archive.pending_keys (id bigint PRIMARY KEY);
    END IF;
""" + MAKE_CLEARED

def _archive_months(previous: str) -> str:
    """0019's incidents_archive_months with the keys left for the batches (each piece found exactly once)."""
    start = previous.index("CREATE OR REPLACE FUNCTION incidents_archive_months")
    end = previous.index("REVOKE ALL ON FUNCTION incidents_archive_months")
    function = previous[start:end]
    for old, new in ((MOVE_KEYS, PEND_KEYS), (MAKE_CLEARED, MAKE_PENDING)):
        if function.count(old) != 1:  # not an assert: `python -O` would install 0019's function unchanged
            raise RuntimeError(f"0019's function has changed; not found once: {old.strip()[:60]}")
        function = function.replace(old, new)
    return function


FORWARD = _archive_months(PREVIOUS) + r"""
-- One batch of the archived cases' keys out of the live table, the oldest first: (written down taken, keys moved).
-- The keys' foreign keys are checked before it returns, so a row still pointing at one is said here, in one line.
CREATE FUNCTION incidents_archive_keys(p_batch integer) RETURNS TABLE (taken bigint, moved bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, public SET lock_timeout = '30s' AS $$
DECLARE
    cols text;
    detail text;
BEGIN
    IF to_regclass('archive.pending_keys') IS NULL THEN
        taken := 0; moved := 0; RETURN NEXT; RETURN;
    END IF;
    cols := incidents_archive_table('incidents_casekey');
    EXECUTE format('WITH batch AS (DELETE FROM archive.pending_keys WHERE id IN '
                   '(SELECT id FROM archive.pending_keys ORDER BY id LIMIT %s) RETURNING id), '
                   'gone AS (DELETE FROM public.incidents_casekey k USING batch b WHERE k.id = b.id RETURNING k.*), '
                   'kept AS (INSERT INTO archive.incidents_casekey (%s) SELECT %s FROM gone RETURNING 1) '
                   'SELECT (SELECT count(*) FROM batch), (SELECT count(*) FROM kept)', p_batch, cols, cols)
        INTO taken, moved;
    BEGIN
        SET CONSTRAINTS ALL IMMEDIATE;
    EXCEPTION WHEN foreign_key_violation THEN
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION 'an archived case''s key is still pointed at from a live row (%)', detail
            USING ERRCODE = 'foreign_key_violation';
    END;
    SET CONSTRAINTS ALL DEFERRED;
    RETURN NEXT;
END $$;
REVOKE ALL ON FUNCTION incidents_archive_keys(integer) FROM PUBLIC;
"""

# Back: 0019's function (its keys moved in the move's transaction) and no batches — refused while keys wait to be
# moved: 0019 would never move them.
REFUSE_WHILE_KEYS_WAIT = r"""
DO $$
DECLARE
    n bigint := 0;
BEGIN
    IF to_regclass('archive.pending_keys') IS NOT NULL THEN
        EXECUTE 'SELECT count(*) FROM archive.pending_keys' INTO n;
    END IF;
    IF n > 0 THEN
        RAISE EXCEPTION 'archive.pending_keys holds % archived cases'' keys still to move: run archive_cases --finish first', n
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END $$;
"""
REVERSE = REFUSE_WHILE_KEYS_WAIT + PREVIOUS + "DROP FUNCTION IF EXISTS incidents_archive_keys(integer);\n"


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0019_case_archive_mends'),
    ]

    operations = [migrations.RunSQL(FORWARD.format(TIME_ZONE=settings.TIME_ZONE),
                                    REVERSE.format(TIME_ZONE=settings.TIME_ZONE))]
