import importlib

from django.conf import settings
from django.db import migrations

# Mends to the archive's functions of 0020, made again with CREATE OR REPLACE:
# - the move takes the cases, their keys and their log whole before anything else, in one go that lets go and tries
#   again when one is in use: taking them one by one as it went, it deadlocked with a report in flight (the report
#   held the cases and waited for the log, which the move held while it waited for the cases; seen with reports
#   coming in at ten a second during bench/growth.py's archive of a million-case month);
# - the key batches one at a time (two runs side by side took the same first keys, and the second, finding them
#   gone, stopped as if the list were empty), at least one key a batch, and a live row's message says what to do.
PREVIOUS = importlib.import_module("incidents.migrations.0020_case_archive_keys_later")

DECLARE_LAST = """    item text;
BEGIN
"""
DECLARE_STARTED = """    item text;
    tried_since timestamptz;
BEGIN
"""
BEFORE_MOVES = """    CREATE TEMP TABLE archive_moved_incidents_casekey ON COMMIT DROP AS
"""
TAKE_TABLES = """    -- The tables every report and every step of a case write, taken whole before anything is moved, all three at
    -- once: a report writes the case, its key, then its log; a step reads the key, then writes the case. A try waits
    -- at most 100 ms and, failing, lets go of what it took, so that a report or a step holding one never waits on
    -- the move while the move waits on it (a deadlock); tried again for 30 s. Reads and writes of the cases wait
    -- from here to the end of the move.
    tried_since := clock_timestamp();
    PERFORM set_config('lock_timeout', '100ms', true);
    LOOP
        BEGIN
            LOCK TABLE public.incidents_case, public.incidents_casekey, public.incidents_caselog
                IN ACCESS EXCLUSIVE MODE;
            EXIT;
        EXCEPTION WHEN lock_not_available THEN
            IF clock_timestamp() > tried_since + interval '30 seconds' THEN
                RAISE EXCEPTION 'the cases, their keys and their log stayed in use for 30 s: nothing was archived; try again in a quieter moment'
                    USING ERRCODE = 'lock_not_available';
            END IF;
            PERFORM pg_sleep(0.05);
        END;
    END LOOP;
    PERFORM set_config('lock_timeout', '30s', true);
""" + BEFORE_MOVES
KEYS_LAST = """    -- The cases' partitions, then their keys. The keys' own foreign key to the cases is set aside meanwhile (a
    -- partition that keys point at cannot be detached; the keys cannot go first either, with the archived cases'
    -- foreign keys still pending on them) and made again, checked, at the end.
"""
KEYS_LATER = """    -- The cases' partitions; their keys are written down for later. The keys' own foreign key to the cases is set
    -- aside meanwhile (a partition that keys point at cannot be detached) and made again, NOT VALID, at the end.
"""
CHECK_ALL = """    -- Nothing left pointing at what moved, or nothing moves: the foreign keys say what and where.
"""
CHECK_MOVED = """    -- Nothing left pointing at the rows that moved, or nothing moves: the foreign keys say what and where (the
    -- keys, still here, are checked by their batches).
"""


def _archive_months() -> str:
    """0020's incidents_archive_months with the tables taken first (each piece found exactly once)."""
    function = PREVIOUS._archive_months(PREVIOUS.PREVIOUS)
    for old, new in ((DECLARE_LAST, DECLARE_STARTED), (BEFORE_MOVES, TAKE_TABLES), (KEYS_LAST, KEYS_LATER),
                     (CHECK_ALL, CHECK_MOVED)):
        if function.count(old) != 1:  # not an assert: `python -O` would install 0020's function unchanged
            raise RuntimeError(f"0020's function has changed; not found once: {old.strip()[:60]}")
        function = function.replace(old, new)
    return function


FORWARD = _archive_months() + r"""
-- One batch of the archived cases' keys out of the live table, the oldest first: (written down taken, keys moved).
-- The keys' foreign keys are checked before it returns, so a row still pointing at one is said here, in one line.
-- One batch at a time: two runs side by side (a scheduled archive, an `archive_cases --finish`) would take the same
-- first keys, and the second, finding them gone, would stop as if the list were empty.
CREATE OR REPLACE FUNCTION incidents_archive_keys(p_batch integer) RETURNS TABLE (taken bigint, moved bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, public SET lock_timeout = '30s' AS $$
DECLARE
    cols text;
    detail text;
BEGIN
    IF p_batch IS NULL OR p_batch < 1 THEN
        RAISE EXCEPTION 'a batch of keys is at least 1, not %', p_batch USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass('archive.pending_keys') IS NULL THEN
        taken := 0; moved := 0; RETURN NEXT; RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('incidents_archive_keys'));
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
        RAISE EXCEPTION 'an archived case''s key is still pointed at from a live row (%): delete that row or empty its reference, then archive_cases --finish',
            detail USING ERRCODE = 'foreign_key_violation';
    END;
    SET CONSTRAINTS ALL DEFERRED;
    RETURN NEXT;
END $$;
"""

# Back: 0020's functions as it made them.
REVERSE = PREVIOUS.FORWARD.replace("CREATE FUNCTION incidents_archive_keys",
                                   "CREATE OR REPLACE FUNCTION incidents_archive_keys")


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0020_case_archive_keys_later'),
    ]

    operations = [migrations.RunSQL(FORWARD.format(TIME_ZONE=settings.TIME_ZONE),
                                    REVERSE.format(TIME_ZONE=settings.TIME_ZONE))]
