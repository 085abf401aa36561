import re

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# Cases and their log by month (issue 19): PostgreSQL's declarative partitioning on the time of the report
# (incidents_case.created_at) and of the step (incidents_caselog.created_at), one partition per month
# (NAME_pYYYYMM) and a DEFAULT one for what no month holds yet. A database that already holds cases migrates in
# place, in this migration's one transaction (all or nothing): rows, ids, indexes, triggers and grants carry over.
#
# PostgreSQL keys a partitioned table's uniqueness by partition: the primary keys become (id, created_at), and a
# case's number and client id, unique across every month, are kept unique in incidents_casekey — one narrow row a
# case, written by a statement trigger on the cases (the "global index" PostgreSQL lacks). Every table that
# pointed at a case now points at its key (a real foreign key), and the key at its case by (id, created_at).
# A photo points at its log entry by (log_entry_id, log_entry_at), the second filled by a trigger.
#
# incidents_partitions(from, ahead) makes the months, cut in the city's time zone (TIME_ZONE), from `from`, the
# earliest month a DEFAULT partition holds, or the current one, to `ahead` months from now, as the owner (SECURITY
# DEFINER, search_path pinned, no temporary table: the runtime role creates nothing and can slip nothing in). The
# scheduler calls it daily; the history generator for the months it fills. Rows the DEFAULT partition took for a
# month it makes move into it in the same transaction, straight into the new partition, so the tallies' and the
# processing times' statement triggers (on the parents) do not count them twice. Partitions are read-only to
# everyone but the owner: rows are written through the parents, whose statement triggers keep the case keys.
#
# Why not pg_partman (Debian's postgresql-15-partman, 4.7): its create_partition_time fails when the DEFAULT
# partition holds rows of the month, and partition_data_time moves them through DELETE and INSERT, which the case
# log's append-only trigger refuses and the foreign keys to the moving rows break (checked partition by
# partition); its partitions would take the owner's default privileges, not read-only ones; and its extension
# would need its own schema in every dump and restore. The job is the audit trail's (citygrid 0009) for two
# tables, in the scheduler the product has.
FORWARD = r"""
-- Months are cut in the city's time zone (TIME_ZONE), whatever the caller's: a month's evaluation or bulletin reads
-- its own partition. The bounds are dates made timestamps in the function's time zone.
CREATE FUNCTION incidents_partitions(p_from date, p_ahead integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp SET TimeZone = '{TIME_ZONE}' SET lock_timeout = '30s' AS $$
DECLARE
    made integer := 0;
    m date;
    upto date;
    last date;
    oldest date;
    parent text;
    part text;
    cols text;
    acl record;
    fk record;
    fk_src text[];
    fk_name text[];
    fk_def text[];
    waiting boolean;
BEGIN
    IF p_ahead IS NULL OR p_ahead < 0 OR p_ahead > 24 THEN
        RAISE EXCEPTION 'incidents_partitions: months ahead from 0 to 24' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_from < date '1990-01-01' THEN
        RAISE EXCEPTION 'incidents_partitions: no months before 1990' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One caller at a time (the scheduler, a history being generated): the second waits for the first.
    PERFORM pg_advisory_xact_lock(hashtext('incidents_partitions'));
    -- From the earliest month a DEFAULT partition holds (a scheduler stopped for months, a past-dated import),
    -- else from `p_from` or the current month.
    FOREACH parent IN ARRAY ARRAY['incidents_case', 'incidents_caselog'] LOOP
        IF to_regclass(format('public.%I', parent || '_default')) IS NOT NULL THEN
            EXECUTE format('SELECT least(%L::date, min(created_at)::date) FROM public.%I', oldest,
                           parent || '_default') INTO oldest;
        END IF;
    END LOOP;
    m := date_trunc('month', least(p_from, oldest, now()::date))::date;
    last := (date_trunc('month', now()) + make_interval(months => p_ahead))::date;
    WHILE m <= last LOOP
        upto := (m + interval '1 month')::date;
        FOREACH parent IN ARRAY ARRAY['incidents_case', 'incidents_caselog'] LOOP
            part := parent || '_p' || to_char(m, 'YYYYMM');
            CONTINUE WHEN to_regclass('public.' || part) IS NOT NULL
                       OR (SELECT relkind FROM pg_class WHERE oid = to_regclass('public.' || parent)) <> 'p';
            -- Made on its own and attached: ATTACH takes a lock that lets intake go on, CREATE ... PARTITION OF
            -- one that stops it.
            EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                           'INCLUDING GENERATED INCLUDING STORAGE)', part, parent);
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM public.%I WHERE created_at >= %L AND created_at < %L)',
                           parent || '_default', m, upto) INTO waiting;
            IF waiting THEN
                -- What the DEFAULT partition took for the month moves into it, as the audit trail's does: the
                -- DEFAULT partition detached (so without the log's append-only trigger, which comes back with
                -- it), the rows moved, both attached. PostgreSQL checks a foreign key to a partitioned table
                -- partition by partition, so the keys pointing at this parent are dropped for the move and made
                -- again, validated, at its end. All in this transaction; rare, and slower on a large table.
                fk_src := '{}';
                fk_name := '{}';
                fk_def := '{}';
                FOR fk IN SELECT conrelid::regclass::text AS src, conname::text AS name,
                                 pg_get_constraintdef(oid) AS def
                          FROM pg_constraint WHERE contype = 'f' AND conparentid = 0
                            AND confrelid = ('public.' || parent)::regclass LOOP
                    fk_src := fk_src || fk.src;
                    fk_name := fk_name || fk.name;
                    fk_def := fk_def || fk.def;
                    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.src, fk.name);
                END LOOP;
                EXECUTE format('ALTER TABLE public.%I DETACH PARTITION public.%I', parent, parent || '_default');
                SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute
                WHERE attrelid = ('public.' || parent)::regclass AND attnum > 0 AND NOT attisdropped
                  AND attgenerated = '';
                -- straight into the month: the parents' statement triggers (tallies, case keys) saw them already
                EXECUTE format('WITH moved AS (DELETE FROM public.%I WHERE created_at >= %L AND created_at < %L '
                               'RETURNING %s) INSERT INTO public.%I (%s) SELECT * FROM moved',
                               parent || '_default', m, upto, cols, part, cols);
            END IF;
            EXECUTE format('ALTER TABLE public.%I ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                           parent, part, m, upto);
            IF waiting THEN
                EXECUTE format('ALTER TABLE public.%I ATTACH PARTITION public.%I DEFAULT', parent, parent || '_default');
                FOR i IN 1 .. coalesce(array_length(fk_src, 1), 0) LOOP
                    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk_src[i], fk_name[i], fk_def[i]);
                END LOOP;
            END IF;
            -- Read, never written, except through the parent: a row written to a partition directly would skip
            -- the parent's statement triggers (the case keys, the tallies). Whoever reads the parent reads it.
            FOR acl IN SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
                       WHERE c.oid = to_regclass('public.' || part) AND a.grantee <> c.relowner LOOP
                EXECUTE format('REVOKE ALL ON public.%I FROM %s', part,
                               CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(acl.grantee)) END);
            END LOOP;
            FOR acl IN SELECT a.grantee FROM pg_class c, aclexplode(c.relacl) a
                       WHERE c.oid = to_regclass('public.' || parent) AND a.grantee <> c.relowner AND a.grantee <> 0
                         AND a.privilege_type = 'SELECT' LOOP
                EXECUTE format('GRANT SELECT ON public.%I TO %I', part, pg_get_userbyid(acl.grantee));
            END LOOP;
            made := made + 1;
        END LOOP;
        m := upto;
    END LOOP;
    RETURN made;
END $$;
REVOKE ALL ON FUNCTION incidents_partitions(date, integer) FROM PUBLIC;

-- One table into months, in place: what points at it is dropped and made again at the end; its indexes,
-- foreign keys, triggers and grants are read from the catalogue before and made again on the new parent.
CREATE FUNCTION pg_temp.incidents_partition_table(p_table text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
    acl record;
    cols text;
    first date;
    next_id bigint;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS incidents_saved (tbl text, kind text, name text, def text, src text);
    INSERT INTO incidents_saved
        SELECT p_table, 'pointing', conname, pg_get_constraintdef(oid), conrelid::regclass::text FROM pg_constraint
        WHERE contype = 'f' AND confrelid = p_table::regclass AND conrelid <> p_table::regclass;
    INSERT INTO incidents_saved
        SELECT p_table, 'fk', conname, pg_get_constraintdef(oid), NULL FROM pg_constraint
        WHERE contype = 'f' AND conrelid = p_table::regclass;
    INSERT INTO incidents_saved
        SELECT p_table, 'index', i.indexname, i.indexdef, NULL FROM pg_indexes i
        WHERE i.schemaname = 'public' AND i.tablename = p_table AND i.indexname <> p_table || '_pkey';
    INSERT INTO incidents_saved
        SELECT p_table, 'trigger', tgname, pg_get_triggerdef(oid), NULL FROM pg_trigger
        WHERE tgrelid = p_table::regclass AND NOT tgisinternal;
    INSERT INTO incidents_saved
        SELECT p_table, 'grant', a.privilege_type, pg_get_userbyid(a.grantee), NULL
        FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = p_table::regclass AND a.grantee <> c.relowner;
    -- views that read the table (the OGC service's public cases), with their grants
    INSERT INTO incidents_saved
        SELECT DISTINCT p_table, 'view', v.oid::regclass::text, pg_get_viewdef(v.oid), v.relacl::text
        FROM pg_depend d JOIN pg_rewrite w ON w.oid = d.objid JOIN pg_class v ON v.oid = w.ev_class
        WHERE d.refobjid = p_table::regclass AND v.oid <> p_table::regclass;
    FOR r IN SELECT * FROM incidents_saved WHERE tbl = p_table AND kind = 'view' LOOP
        EXECUTE format('DROP VIEW %s', r.name);
    END LOOP;
    FOR r IN SELECT * FROM incidents_saved WHERE tbl = p_table AND kind IN ('pointing', 'fk') LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', coalesce(r.src, p_table), r.name);
    END LOOP;

    EXECUTE format('ALTER TABLE %I RENAME TO %I', p_table, p_table || '_unpartitioned');
    EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I', p_table || '_unpartitioned', p_table || '_pkey',
                   p_table || '_unpartitioned_pkey');
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED '
                   'INCLUDING STORAGE, PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at)',
                   p_table, p_table || '_unpartitioned');
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', p_table || '_default', p_table);
    FOR r IN SELECT * FROM incidents_saved WHERE tbl = p_table AND kind = 'grant' LOOP
        EXECUTE format('GRANT %s ON %I TO %I', r.name, p_table, r.def);
    END LOOP;
    EXECUTE format('SELECT min(created_at)::date FROM %I', p_table || '_unpartitioned') INTO first;
    PERFORM incidents_partitions(first, 2);
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute
    WHERE attrelid = p_table::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
    EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM %I', p_table, cols, cols, p_table || '_unpartitioned');
    -- the ids carry on from the old identity, past any id it gave out (the owner's default privileges let the
    -- runtime role use the new sequence)
    EXECUTE format('SELECT greatest((SELECT last_value + 1 FROM %s), (SELECT coalesce(max(id), 0) + 1 FROM %I))',
                   pg_get_serial_sequence(p_table || '_unpartitioned', 'id'), p_table) INTO next_id;
    EXECUTE format('DROP TABLE %I', p_table || '_unpartitioned');
    EXECUTE format('CREATE SEQUENCE %I OWNED BY %I.id', p_table || '_id_seq', p_table);
    PERFORM setval(p_table || '_id_seq', next_id, false);
    EXECUTE format('ALTER TABLE %I ALTER COLUMN id SET DEFAULT nextval(%L)', p_table, p_table || '_id_seq');
    -- Indexes: a unique one must hold the partition key; the number's and the client id's uniqueness is the
    -- case key's (below), their indexes here serve look-ups.
    FOR r IN SELECT * FROM incidents_saved WHERE tbl = p_table AND kind = 'index' LOOP
        EXECUTE regexp_replace(r.def, '^CREATE UNIQUE INDEX', 'CREATE INDEX');
    END LOOP;
    FOR r IN SELECT * FROM incidents_saved WHERE tbl = p_table AND kind = 'fk' LOOP
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s', p_table, r.name,
                       replace(r.def, 'REFERENCES incidents_case(id)', 'REFERENCES incidents_casekey(id)'));
    END LOOP;
    FOR r IN SELECT * FROM incidents_saved WHERE tbl = p_table AND kind = 'trigger' LOOP
        EXECUTE r.def;
    END LOOP;
    FOR r IN SELECT * FROM incidents_saved WHERE tbl = p_table AND kind = 'view' LOOP
        EXECUTE format('CREATE VIEW %s AS %s', r.name, r.def);
        FOR acl IN SELECT a.grantee, a.privilege_type FROM aclexplode(r.src::aclitem[]) a
                   WHERE a.grantee <> (SELECT relowner FROM pg_class WHERE oid = r.name::regclass) LOOP
            EXECUTE format('GRANT %s ON %s TO %I', acl.privilege_type, r.name, pg_get_userbyid(acl.grantee));
        END LOOP;
    END LOOP;
END $$;

-- The processing times' trigger (0008) returns at once when no step of the statement is a processing report or
-- a closure (a report, a registration...): its UPDATE, planned over every month's partition, cost 1.4 ms an intake.
CREATE OR REPLACE FUNCTION incidents_case_times() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows WHERE action IN ('process', 'close')) THEN
        RETURN NULL;
    END IF;
    UPDATE incidents_case c
    SET processed_at = CASE WHEN p.processed > c.processed_at OR c.processed_at IS NULL
                            THEN coalesce(p.processed, c.processed_at) ELSE c.processed_at END,
        closed_at = coalesce(c.closed_at, p.closed)
    FROM (SELECT case_id, max(created_at) FILTER (WHERE action = 'process') AS processed,
                 max(created_at) FILTER (WHERE action = 'close') AS closed
          FROM new_rows WHERE action IN ('process', 'close') GROUP BY 1) p
    WHERE c.id = p.case_id AND (p.processed > c.processed_at OR (p.processed IS NOT NULL AND c.processed_at IS NULL)
                                OR (p.closed IS NOT NULL AND c.closed_at IS NULL));
    RETURN NULL;
END $$;

-- The cases' keys: one a case, kept by the statement trigger below.
INSERT INTO incidents_casekey (id, created_at, number, client_uuid)
    SELECT id, created_at, number, client_uuid FROM incidents_case;
SELECT pg_temp.incidents_partition_table('incidents_case');
CREATE FUNCTION incidents_case_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO incidents_casekey (id, created_at, number, client_uuid)
        SELECT id, created_at, number, client_uuid FROM new_rows;
    RETURN NULL;
END $$;
CREATE TRIGGER incidents_case_keys AFTER INSERT ON incidents_case
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION incidents_case_keys();
-- A case's number and client id never change (its key holds them); its report time may be corrected, and the
-- key follows (ON UPDATE CASCADE).
CREATE FUNCTION incidents_case_key_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a case''s number and client id never change' USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER incidents_case_key_fixed BEFORE UPDATE OF number, client_uuid ON incidents_case FOR EACH ROW
    WHEN (OLD.number IS DISTINCT FROM NEW.number OR OLD.client_uuid IS DISTINCT FROM NEW.client_uuid)
    EXECUTE FUNCTION incidents_case_key_fixed();
ALTER TABLE incidents_casekey ADD CONSTRAINT incidents_casekey_case_fk FOREIGN KEY (id, created_at)
    REFERENCES incidents_case (id, created_at) ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;

SELECT pg_temp.incidents_partition_table('incidents_caselog');

-- Everything that pointed at a case points at its key; a photo at its log entry by (id, time).
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM incidents_saved WHERE kind = 'pointing' AND tbl = 'incidents_case' LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', r.src, r.name,
                       replace(r.def, 'REFERENCES incidents_case(id)', 'REFERENCES incidents_casekey(id)'));
    END LOOP;
    IF EXISTS (SELECT 1 FROM incidents_saved WHERE kind = 'pointing' AND tbl = 'incidents_caselog'
               AND src <> 'incidents_photo') THEN
        RAISE EXCEPTION 'only photos may point at case log entries';
    END IF;
END $$;
UPDATE incidents_photo p SET log_entry_at = l.created_at FROM incidents_caselog l WHERE l.id = p.log_entry_id;
CREATE FUNCTION incidents_photo_log_entry_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.log_entry_at := (SELECT created_at FROM incidents_caselog WHERE id = NEW.log_entry_id);
    RETURN NEW;
END $$;
CREATE TRIGGER incidents_photo_log_entry_at BEFORE INSERT OR UPDATE OF log_entry_id ON incidents_photo
    FOR EACH ROW EXECUTE FUNCTION incidents_photo_log_entry_at();
-- Without its time, a photo's entry would go unchecked (a foreign key ignores a row with a NULL column).
ALTER TABLE incidents_photo ADD CONSTRAINT incidents_photo_log_entry_at_set
    CHECK ((log_entry_id IS NULL) = (log_entry_at IS NULL));
ALTER TABLE incidents_photo ADD CONSTRAINT incidents_photo_log_entry_fk FOREIGN KEY (log_entry_id, log_entry_at)
    REFERENCES incidents_caselog (id, created_at) DEFERRABLE INITIALLY DEFERRED;
DROP TABLE incidents_saved;
"""

if not re.fullmatch(r"[A-Za-z0-9_/+-]+", settings.TIME_ZONE):
    raise ValueError(f"TIME_ZONE {settings.TIME_ZONE!r} is not a time zone name")
FORWARD = FORWARD.replace("{TIME_ZONE}", settings.TIME_ZONE)


class Migration(migrations.Migration):

    dependencies = [
        ("incidents", "0012_tile_functions_qualified"),
        # Every table that points at a case exists first, so that its foreign key is moved to the case key.
        ("dispatch", "0014_routingrule_over_component"),
        ("emergency", "0001_initial"),
        ("monitoring", "0009_sensor_fillfactor"),
    ]

    operations = [
        migrations.CreateModel(
            name="CaseKey",
            fields=[
                ("id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("created_at", models.DateTimeField()),
                ("number", models.CharField(max_length=20, unique=True)),
                ("client_uuid", models.UUIDField(unique=True)),
            ],
            options={"verbose_name": "case key", "verbose_name_plural": "case keys"},
        ),
        migrations.AddField(
            model_name="photo",
            name="log_entry_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        # Forward only: going back would mean a table of ten years in one piece, which no deployment needs.
        migrations.RunSQL(FORWARD, migrations.RunSQL.noop),
        # The foreign keys above are the database's own (to the case key, by (id, time) to the log): Django's
        # state says it makes none.
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.AlterField(
                model_name='callback',
                name='case',
                field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='callbacks', to='incidents.case', verbose_name='case'),
            ),
            migrations.AlterField(
                model_name='callback',
                name='work_case',
                field=models.ForeignKey(db_constraint=False, editable=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='incidents.case'),
            ),
            migrations.AlterField(
                model_name='case',
                name='merged_into',
                field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='merged_cases', to='incidents.case', verbose_name='merged into'),
            ),
            migrations.AlterField(
                model_name='caselog',
                name='case',
                field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='log', to='incidents.case'),
            ),
            migrations.AlterField(
                model_name='photo',
                name='case',
                field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='photos', to='incidents.case'),
            ),
            migrations.AlterField(
                model_name='photo',
                name='log_entry',
                field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='photos', to='incidents.caselog'),
            ),
        ]),
    ]
