import importlib

from django.conf import settings
from django.db import migrations

# Mends to the archive's functions (migration 0017, README "Growth"), made again with CREATE OR REPLACE:
# - archive tables keep no NOT NULL (a column the live table drops later must not stop the moves after it);
# - a month archived before and made again (a case dated back into it) joins its archived rows, with any column
#   the live table gained since;
# - the move waits at most 30 s for its locks; the keys' foreign key to the cases comes back NOT VALID and the
#   caller (incidents.archive) validates it in a transaction of its own, under a lock that lets reports go on.
FORWARD = r"""
-- The archive's table for `t`: made like the live one (columns only: no keys, no generated expressions), and given
-- any column the live one gained since.
CREATE OR REPLACE FUNCTION incidents_archive_table(t text) RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, public AS $$
DECLARE
    col record;
BEGIN
    IF to_regclass(format('archive.%I', t)) IS NULL THEN
        EXECUTE format('CREATE TABLE archive.%I (LIKE public.%I)', t, t);
        -- no NOT NULL either: a column the live table drops later must not stop the moves after it
        FOR col IN SELECT attname FROM pg_attribute WHERE attrelid = format('archive.%I', t)::regclass
                     AND attnum > 0 AND NOT attisdropped AND attnotnull LOOP
            EXECUTE format('ALTER TABLE archive.%I ALTER COLUMN %I DROP NOT NULL', t, col.attname);
        END LOOP;
    ELSE
        FOR col IN SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
                   WHERE a.attrelid = format('public.%I', t)::regclass AND a.attnum > 0 AND NOT a.attisdropped
                     AND NOT EXISTS (SELECT 1 FROM pg_attribute b WHERE b.attrelid = format('archive.%I', t)::regclass
                                     AND b.attname = a.attname AND NOT b.attisdropped) LOOP
            EXECUTE format('ALTER TABLE archive.%I ADD COLUMN %I %s', t, col.attname, col.type);
        END LOOP;
    END IF;
    -- the live table's columns, by name
    RETURN (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
            WHERE attrelid = format('public.%I', t)::regclass AND attnum > 0 AND NOT attisdropped);
END $$;

-- A monthly partition into the archive: detached, its foreign keys dropped (a record, read by id), no grants.
CREATE OR REPLACE FUNCTION incidents_archive_detach(parent text, part text) RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, public AS $$
DECLARE
    k record;
    acl record;
    cols text;
BEGIN
    EXECUTE format('ALTER TABLE public.%I DETACH PARTITION public.%I', parent, part);
    FOR k IN SELECT conname FROM pg_constraint WHERE conrelid = format('public.%I', part)::regclass
               AND contype = 'f' LOOP
        EXECUTE format('ALTER TABLE public.%I DROP CONSTRAINT %I', part, k.conname);
    END LOOP;
    FOR acl IN SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
               WHERE c.oid = format('public.%I', part)::regclass AND a.grantee <> c.relowner LOOP
        EXECUTE format('REVOKE ALL ON public.%I FROM %s', part,
                       CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(acl.grantee)) END);
    END LOOP;
    IF to_regclass(format('archive.%I', part)) IS NULL THEN
        EXECUTE format('ALTER TABLE public.%I SET SCHEMA archive', part);
    ELSE
        -- the month was archived before and made again (a case dated back into it, a history generated): its rows
        -- join the archived ones, by column name (the archive given any column the live table gained), and the
        -- emptied partition goes
        PERFORM incidents_archive_table(part);
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute
        WHERE attrelid = format('archive.%I', part)::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
          AND attname IN (SELECT attname FROM pg_attribute WHERE attrelid = format('public.%I', part)::regclass
                          AND attnum > 0 AND NOT attisdropped);
        EXECUTE format('INSERT INTO archive.%I (%s) SELECT %s FROM public.%I', part, cols, cols, part);
        EXECUTE format('DROP TABLE public.%I', part);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION incidents_archive_months(p_through date)
RETURNS TABLE (tbl text, moved bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp SET TimeZone = '{TIME_ZONE}'
SET lock_timeout = '30s' AS $$
DECLARE
    upto timestamptz := (date_trunc('month', p_through) + interval '1 month')::date;
    part record;
    fk record;
    other record;
    trig record;
    n bigint;
    example text;
    cols text;
    queue text[] := ARRAY['incidents_casekey'];
    x text;
    ids text;
    disabled text[] := '{{}}';
    item text;
BEGIN
    IF p_through IS NULL OR p_through >= date_trunc('month', now())::date THEN
        RAISE EXCEPTION 'archive through a month that is over, before %', to_char(now(), 'YYYY-MM')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Not beside the partitions' maintenance (the scheduler's incidents_partitions).
    PERFORM pg_advisory_xact_lock(hashtext('incidents_partitions'));
    IF NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                   WHERE i.inhparent = 'public.incidents_case'::regclass AND c.relname ~ '_p\d{{6}}$'
                     AND to_date(right(c.relname, 6), 'YYYYMM') < upto) THEN
        RAISE EXCEPTION 'no month of cases through % is left to archive', to_char(p_through, 'YYYY-MM')
            USING ERRCODE = 'no_data_found';
    END IF;
    IF EXISTS (SELECT 1 FROM public.incidents_case_default WHERE created_at < upto) THEN
        RAISE EXCEPTION 'cases before % wait in the DEFAULT partition: run the partitions'' maintenance first',
            to_char(upto, 'YYYY-MM') USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT count(*), min(c.number) INTO n, example FROM public.incidents_case c
    WHERE c.created_at < upto AND c.status NOT IN ('closed', 'cancelled', 'merged', 'rejected');
    IF n > 0 THEN
        RAISE EXCEPTION '% case(s) reported through % are not finished (e.g. %): only closed, cancelled, merged or rejected cases are archived',
            n, to_char(p_through, 'YYYY-MM'), example USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT min(c.number) INTO example FROM public.incidents_case c
    WHERE c.created_at >= upto AND c.merged_into_id IN (SELECT id FROM public.incidents_case WHERE created_at < upto);
    IF example IS NOT NULL THEN
        RAISE EXCEPTION 'case % was merged into a case reported through %: archive through its month too', example,
            to_char(p_through, 'YYYY-MM') USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    CREATE TEMP TABLE archive_moved_incidents_casekey ON COMMIT DROP AS
        SELECT id FROM public.incidents_case WHERE created_at < upto;
    CREATE SCHEMA IF NOT EXISTS archive;
    REVOKE ALL ON SCHEMA archive FROM PUBLIC;
    IF to_regclass('archive.cleared_references') IS NULL THEN
        CREATE TABLE archive.cleared_references (at timestamptz NOT NULL, tbl text NOT NULL, row_id bigint NOT NULL,
                                                 col text NOT NULL, value bigint NOT NULL);
    END IF;

    -- Rows pointing at moving rows, from the keys outwards: a row whose reference cannot be empty belongs to what it
    -- points at and moves with it (its own referrers after it); one that can (an alarm episode's case, an emergency
    -- incident's episode) exists on its own: it stays, its reference emptied and written down in
    -- archive.cleared_references. The log and the cases themselves come after.
    WHILE cardinality(queue) > 0 LOOP
        x := queue[1];
        queue := queue[2:];
        ids := format('(SELECT id FROM %I)', 'archive_moved_' || x);
        FOR fk IN SELECT k.conrelid::regclass::text AS src, a.attname AS col, a.attnotnull AS owned
                  FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
                  WHERE k.contype = 'f' AND k.conparentid = 0 AND k.confrelid = format('public.%I', x)::regclass
                    AND k.conrelid NOT IN ('public.incidents_case'::regclass, 'public.incidents_caselog'::regclass)
                    AND k.conrelid <> k.confrelid
                  ORDER BY 1, 2 LOOP
            IF NOT fk.owned THEN
                EXECUTE format('WITH c AS (UPDATE public.%s r SET %I = NULL FROM (SELECT id, %I AS v FROM public.%s '
                               'WHERE %I IN %s) o WHERE r.id = o.id RETURNING r.id, o.v) '
                               'INSERT INTO archive.cleared_references SELECT now(), %L, id, %L, v FROM c',
                               fk.src, fk.col, fk.col, fk.src, fk.col, ids, fk.src, fk.col);
                GET DIAGNOSTICS n = ROW_COUNT;
                tbl := fk.src || '.' || fk.col || ' (emptied)'; moved := n; RETURN NEXT;
                CONTINUE;
            END IF;
            cols := incidents_archive_table(fk.src);
            FOR trig IN SELECT tgname FROM pg_trigger WHERE tgrelid = fk.src::regclass AND NOT tgisinternal
                          AND tgenabled <> 'D' AND (tgtype & 8) <> 0 LOOP
                EXECUTE format('ALTER TABLE public.%s DISABLE TRIGGER %I', fk.src, trig.tgname);
                disabled := disabled || (fk.src || '|' || trig.tgname);
            END LOOP;
            IF to_regclass('pg_temp.archive_moved_' || fk.src) IS NULL THEN
                EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT * FROM public.%s LIMIT 0',
                               'archive_moved_' || fk.src, fk.src);
            END IF;
            EXECUTE format('WITH moved AS (DELETE FROM public.%s WHERE %I IN %s RETURNING *), '
                           'kept AS (INSERT INTO archive.%I (%s) SELECT %s FROM moved) '
                           'INSERT INTO %I SELECT * FROM moved', fk.src, fk.col, ids, fk.src, cols, cols,
                           'archive_moved_' || fk.src);
            GET DIAGNOSTICS n = ROW_COUNT;
            tbl := fk.src; moved := n; RETURN NEXT;
            -- a row that belongs to a case staying live as well (a callback on a later case judging an archived
            -- case's work) stays with it: refused
            FOR other IN SELECT a.attname AS col FROM pg_constraint k
                         JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
                         WHERE k.contype = 'f' AND k.conparentid = 0 AND k.conrelid = fk.src::regclass
                           AND k.confrelid = 'public.incidents_casekey'::regclass AND a.attname <> fk.col LOOP
                EXECUTE format('SELECT min(k.number) FROM %I m JOIN public.incidents_casekey k ON k.id = m.%I '
                               'WHERE NOT EXISTS (SELECT 1 FROM archive_moved_incidents_casekey f WHERE f.id = k.id)',
                               'archive_moved_' || fk.src, other.col) INTO example;
                IF example IS NOT NULL THEN
                    RAISE EXCEPTION 'a row of % (%) belongs to case % too, which is not archived: archive through its month too',
                        fk.src, other.col, example USING ERRCODE = 'object_not_in_prerequisite_state';
                END IF;
            END LOOP;
            queue := queue || fk.src;
        END LOOP;
    END LOOP;

    -- The log: the steps of these cases written in later months, row by row (the append-only trigger set aside for
    -- this statement's transaction); then the months' partitions, whole, once they hold nothing else.
    cols := incidents_archive_table('incidents_caselog');
    ALTER TABLE public.incidents_caselog DISABLE TRIGGER incidents_caselog_no_update_delete;
    disabled := disabled || 'incidents_caselog|incidents_caselog_no_update_delete'::text;
    EXECUTE format('WITH moved AS (DELETE FROM public.incidents_caselog WHERE created_at >= %L '
                   'AND case_id IN (SELECT id FROM archive_moved_incidents_casekey) RETURNING *) '
                   'INSERT INTO archive.incidents_caselog (%s) SELECT %s FROM moved', upto, cols, cols);
    GET DIAGNOSTICS n = ROW_COUNT;
    tbl := 'incidents_caselog'; moved := n; RETURN NEXT;
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'public.incidents_caselog'::regclass AND c.relname ~ '_p\d{{6}}$'
                  AND to_date(right(c.relname, 6), 'YYYYMM') < upto ORDER BY 1 LOOP
        EXECUTE format('SELECT count(*) FROM public.%I l WHERE NOT EXISTS (SELECT 1 FROM archive_moved_incidents_casekey f '
                       'WHERE f.id = l.case_id)', part.relname) INTO n;
        IF n > 0 THEN
            RAISE EXCEPTION '% holds % step(s) of cases reported after %: archive through the month they were reported',
                part.relname, n, to_char(p_through, 'YYYY-MM') USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        EXECUTE format('SELECT count(*) FROM public.%I', part.relname) INTO n;
        PERFORM incidents_archive_detach('incidents_caselog', part.relname);
        tbl := part.relname; moved := n; RETURN NEXT;
    END LOOP;

    -- The cases' partitions, then their keys. The keys' own foreign key to the cases is set aside meanwhile (a
    -- partition that keys point at cannot be detached; the keys cannot go first either, with the archived cases'
    -- foreign keys still pending on them) and made again, checked, at the end.
    FOR fk IN SELECT conname, replace(pg_get_constraintdef(oid), ' NOT VALID', '') AS def FROM pg_constraint
              WHERE contype = 'f' AND conparentid = 0 AND conrelid = 'public.incidents_casekey'::regclass
                AND confrelid = 'public.incidents_case'::regclass LOOP
        EXECUTE format('ALTER TABLE public.incidents_casekey DROP CONSTRAINT %I', fk.conname);
        disabled := disabled || ('fk|' || fk.conname || '|' || fk.def);
    END LOOP;
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'public.incidents_case'::regclass AND c.relname ~ '_p\d{{6}}$'
                  AND to_date(right(c.relname, 6), 'YYYYMM') < upto ORDER BY 1 LOOP
        EXECUTE format('SELECT count(*) FROM public.%I', part.relname) INTO n;
        PERFORM incidents_archive_detach('incidents_case', part.relname);
        tbl := part.relname; moved := n; RETURN NEXT;
    END LOOP;
    cols := incidents_archive_table('incidents_casekey');
    EXECUTE format('WITH moved AS (DELETE FROM public.incidents_casekey WHERE id IN '
                   '(SELECT id FROM archive_moved_incidents_casekey) RETURNING *) '
                   'INSERT INTO archive.incidents_casekey (%s) SELECT %s FROM moved', cols, cols);
    GET DIAGNOSTICS n = ROW_COUNT;
    tbl := 'incidents_casekey'; moved := n; RETURN NEXT;

    -- Nothing left pointing at what moved, or nothing moves: the foreign keys say what and where.
    BEGIN
        SET CONSTRAINTS ALL IMMEDIATE;
    EXCEPTION WHEN foreign_key_violation THEN
        GET STACKED DIAGNOSTICS example = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION 'still pointed at from outside the archived months (%); nothing was archived', example
            USING ERRCODE = 'foreign_key_violation';
    END;
    SET CONSTRAINTS ALL DEFERRED;
    FOREACH item IN ARRAY disabled LOOP
        IF split_part(item, '|', 1) = 'fk' THEN
            -- NOT VALID: no live key changed; the caller validates it in a transaction of its own, which lets
            -- intake go on (VALIDATE takes a lock that does)
            EXECUTE format('ALTER TABLE public.incidents_casekey ADD CONSTRAINT %I %s NOT VALID',
                           split_part(item, '|', 2), split_part(item, '|', 3));
        ELSE
            EXECUTE format('ALTER TABLE public.%s ENABLE TRIGGER %I', split_part(item, '|', 1),
                           split_part(item, '|', 2));
        END IF;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION incidents_archive_months(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION incidents_archive_table(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION incidents_archive_detach(text, text) FROM PUBLIC;
"""

REVERSE = importlib.import_module("incidents.migrations.0017_case_archive").FORWARD.replace(
    "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0018_case_prefix_indexes'),
    ]

    operations = [migrations.RunSQL(FORWARD.format(TIME_ZONE=settings.TIME_ZONE),
                                    REVERSE.format(TIME_ZONE=settings.TIME_ZONE))]
