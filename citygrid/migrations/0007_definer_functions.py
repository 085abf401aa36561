from django.db import migrations

# The runtime role may neither DELETE from the audit trail nor ANALYZE (both need more than it is granted):
# two SECURITY DEFINER functions, owned by the owner role that runs this migration, do exactly that much for
# it. Both pin their search_path and name their tables with the schema, so that a caller's temporary tables
# cannot stand in for them; EXECUTE is revoked from PUBLIC here and granted to the runtime role after every
# migrate (citygrid.dbroles.apply_grants), as the role's name is the deployment's.
FORWARD = """
CREATE FUNCTION citygrid_audit_purge(p_days integer, OUT deleted bigint, OUT retention_days integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF p_days IS NULL OR p_days < 180 THEN
        RAISE EXCEPTION 'audit retention of % days refused: at least 180 (citygrid_audit_retention days_check)',
            p_days USING ERRCODE = 'check_violation';
    END IF;
    -- The retention the database holds only grows from here; the owner alone can shorten it (never below
    -- 180 days, the table's check). The trigger on the audit trail applies the same figure to the DELETE.
    UPDATE public.citygrid_audit_retention SET days = greatest(days, p_days) WHERE id = 1
        RETURNING days INTO retention_days;
    DELETE FROM public.citygrid_auditevent WHERE at < now() - make_interval(days => retention_days);
    GET DIAGNOSTICS deleted = ROW_COUNT;
END $$;
REVOKE ALL ON FUNCTION citygrid_audit_purge(integer) FROM PUBLIC;

CREATE FUNCTION citygrid_analyze(p_tables text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY p_tables LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'public' AND c.relname = t AND c.relkind IN ('r', 'p', 'm')
                         AND c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)) THEN
            RAISE EXCEPTION 'citygrid_analyze: % is not a table of this application', t
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        EXECUTE format('ANALYZE public.%I', t);
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION citygrid_analyze(text[]) FROM PUBLIC;
"""

BACKWARD = """
DROP FUNCTION citygrid_analyze(text[]);
DROP FUNCTION citygrid_audit_purge(integer);
"""


class Migration(migrations.Migration):
    dependencies = [("citygrid", "0006_audit_retention")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
