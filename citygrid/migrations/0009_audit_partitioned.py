from django.db import migrations

# The audit trail by month (issue 19): PostgreSQL's declarative partitioning, one partition per month and a
# DEFAULT one for what no month holds yet. A database that already holds the trail migrates in place: the old
# table's rows move into the partitions with their ids, in this migration's one transaction (all or nothing).
#
# What held on the table holds on every partition: the append-only trigger (a row trigger on a partitioned
# table is cloned to each partition, present and future), the indexes (partitioned indexes), the foreign key,
# and the grants (citygrid_audit_partitions copies the parent's to each partition it makes; the default
# privileges would give the runtime role UPDATE and DELETE there). PostgreSQL 15 has no identity column on a
# partitioned table: the ids come from a sequence the column owns, carried on from the old identity.
#
# citygrid_audit_partitions(months) makes the months from the current one to `months` ahead; rows the DEFAULT
# partition took for such a month move into it first. It runs as the owner (SECURITY DEFINER, search_path
# pinned): the runtime role creates nothing. The scheduler calls it daily; citygrid_audit_purge drops whole
# months past the retention before deleting the rest row by row.
FORWARD = """
ALTER TABLE citygrid_auditevent RENAME TO citygrid_auditevent_unpartitioned;
ALTER TABLE citygrid_auditevent_unpartitioned RENAME CONSTRAINT citygrid_auditevent_pkey
    TO citygrid_auditevent_unpartitioned_pkey;
CREATE SEQUENCE citygrid_auditevent_id_seq_p;
SELECT setval('citygrid_auditevent_id_seq_p', coalesce(max(id), 0) + 1, false) FROM citygrid_auditevent_unpartitioned;

CREATE TABLE citygrid_auditevent (
    id bigint NOT NULL DEFAULT nextval('citygrid_auditevent_id_seq_p'),
    at timestamptz NOT NULL,
    username varchar(150) NOT NULL,
    ip inet,
    action varchar(40) NOT NULL,
    target varchar(200) NOT NULL,
    result varchar(20) NOT NULL,
    detail text NOT NULL,
    user_id integer,
    CONSTRAINT citygrid_auditevent_pkey PRIMARY KEY (id, at),
    CONSTRAINT citygrid_auditevent_user_fk FOREIGN KEY (user_id) REFERENCES auth_user (id)
        DEFERRABLE INITIALLY DEFERRED
) PARTITION BY RANGE (at);
ALTER SEQUENCE citygrid_auditevent_id_seq_p OWNED BY citygrid_auditevent.id;
CREATE TABLE citygrid_auditevent_default PARTITION OF citygrid_auditevent DEFAULT;

CREATE FUNCTION citygrid_audit_partitions(p_months integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    made integer := 0;
    first date;
    upto date;
    part text;
    acl record;
BEGIN
    IF p_months IS NULL OR p_months < 0 OR p_months > 24 THEN
        RAISE EXCEPTION 'citygrid_audit_partitions: months from 0 to 24' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 0..p_months LOOP
        first := (date_trunc('month', now()) + make_interval(months => i))::date;
        upto := (first + interval '1 month')::date;
        part := 'citygrid_auditevent_p' || to_char(first, 'YYYYMM');
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
                                ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = part);
        EXECUTE format('CREATE TABLE public.%I (LIKE public.citygrid_auditevent INCLUDING DEFAULTS)', part);
        -- Rows the DEFAULT partition took for that month (a scheduler stopped for months) move into it, whole,
        -- in this transaction. Detached, the DEFAULT partition loses the parent's append-only trigger for the
        -- move (and gets it back when it is attached again): nothing else can reach it meanwhile.
        IF EXISTS (SELECT 1 FROM public.citygrid_auditevent_default WHERE at >= first AND at < upto) THEN
            ALTER TABLE public.citygrid_auditevent DETACH PARTITION public.citygrid_auditevent_default;
            EXECUTE format('WITH moved AS (DELETE FROM public.citygrid_auditevent_default WHERE at >= %L AND '
                           'at < %L RETURNING *) INSERT INTO public.%I SELECT * FROM moved', first, upto, part);
            ALTER TABLE public.citygrid_auditevent ATTACH PARTITION public.citygrid_auditevent_default DEFAULT;
        END IF;
        EXECUTE format('ALTER TABLE public.citygrid_auditevent ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                       part, first, upto);
        -- the parent's grants, no more (the owner's default privileges gave the new table others)
        FOR acl IN SELECT DISTINCT a.grantee FROM pg_catalog.pg_class c, aclexplode(c.relacl) a
                   WHERE c.oid = 'public.citygrid_auditevent'::regclass AND a.grantee <> c.relowner LOOP
            EXECUTE format('REVOKE ALL ON public.%I FROM %s', part,
                           CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(acl.grantee)) END);
        END LOOP;
        FOR acl IN SELECT a.grantee, a.privilege_type FROM pg_catalog.pg_class c, aclexplode(c.relacl) a
                   WHERE c.oid = 'public.citygrid_auditevent'::regclass AND a.grantee <> c.relowner AND a.grantee <> 0 LOOP
            EXECUTE format('GRANT %s ON public.%I TO %I', acl.privilege_type, part, pg_get_userbyid(acl.grantee));
        END LOOP;
        made := made + 1;
    END LOOP;
    RETURN made;
END $$;
REVOKE ALL ON FUNCTION citygrid_audit_partitions(integer) FROM PUBLIC;

-- The months the trail already spans, then the current one and two ahead; then its rows, ids and all.
DO $$
DECLARE
    m date;
    part text;
BEGIN
    FOR m IN SELECT DISTINCT date_trunc('month', at)::date FROM citygrid_auditevent_unpartitioned
             WHERE at < date_trunc('month', now()) LOOP
        part := 'citygrid_auditevent_p' || to_char(m, 'YYYYMM');
        EXECUTE format('CREATE TABLE public.%I PARTITION OF public.citygrid_auditevent FOR VALUES FROM (%L) TO (%L)',
                       part, m, (m + interval '1 month')::date);
    END LOOP;
END $$;
SELECT citygrid_audit_partitions(2);
CREATE INDEX citygrid_auditevent_at_p ON citygrid_auditevent (at);
CREATE INDEX citygrid_auditevent_action_p ON citygrid_auditevent (action);
CREATE INDEX citygrid_auditevent_user_id_p ON citygrid_auditevent (user_id);
CREATE TRIGGER citygrid_auditevent_no_update_delete BEFORE UPDATE OR DELETE ON citygrid_auditevent
    FOR EACH ROW EXECUTE FUNCTION citygrid_audit_append_only();
-- Last: the rows (their deferred foreign-key checks would forbid the indexes after them).
INSERT INTO citygrid_auditevent (id, at, username, ip, action, target, result, detail, user_id)
    SELECT id, at, username, ip, action, target, result, detail, user_id FROM citygrid_auditevent_unpartitioned;
DROP TABLE citygrid_auditevent_unpartitioned;

CREATE OR REPLACE FUNCTION citygrid_audit_purge(p_days integer, OUT deleted bigint, OUT retention_days integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    part record;
    cut timestamptz;
    n bigint;
BEGIN
    IF p_days IS NULL OR p_days < 180 THEN
        RAISE EXCEPTION 'audit retention of % days refused: at least 180 (citygrid_audit_retention days_check)',
            p_days USING ERRCODE = 'check_violation';
    END IF;
    UPDATE public.citygrid_audit_retention SET days = greatest(days, p_days) WHERE id = 1
        RETURNING days INTO retention_days;
    cut := now() - make_interval(days => retention_days);
    deleted := 0;
    -- whole months that ended before the cut go at once
    FOR part IN SELECT c.relname FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'public.citygrid_auditevent'::regclass
                  AND c.relname ~ '^citygrid_auditevent_p[0-9]{6}$' LOOP
        IF (to_date(substr(part.relname, 22), 'YYYYMM') + interval '1 month') <= cut THEN
            EXECUTE format('SELECT count(*) FROM public.%I', part.relname) INTO n;
            EXECUTE format('DROP TABLE public.%I', part.relname);
            deleted := deleted + n;
        END IF;
    END LOOP;
    -- the rest row by row (the trigger lets past-retention rows go, and only those)
    DELETE FROM public.citygrid_auditevent WHERE at < cut;
    GET DIAGNOSTICS n = ROW_COUNT;
    deleted := deleted + n;
END $$;
REVOKE ALL ON FUNCTION citygrid_audit_purge(integer) FROM PUBLIC;
"""


class Migration(migrations.Migration):
    dependencies = [("citygrid", "0008_password_history")]

    # Forward only: going back would mean a trail without its months, which no deployment needs.
    operations = [migrations.RunSQL(FORWARD, migrations.RunSQL.noop)]
