from django.db import migrations

# Readings: years of them, so a table partitioned by month (declarative partitioning) with a DEFAULT partition
# that catches what no monthly partition holds yet. The primary key (sensor, seq, time) makes a reading that
# QoS 1 redelivers or a gateway retries land once (INSERT … ON CONFLICT DO NOTHING); the partition key must be
# in it, and a retry carries the same time. Rows are small on purpose (bytes per reading: bench/sensors.py).
#
# monitoring_ensure_partitions(months) makes the months from the current one to `months` ahead; readings that
# the DEFAULT partition took for such a month move into it first (ATTACH refuses otherwise). It runs as the
# owner (SECURITY DEFINER, search_path pinned) because the runtime role may create nothing; the scheduler and
# the ingest call it. monitoring_drop_partitions(before) drops whole months of raw readings past their keep
# (the rollups stay).
FORWARD = """
CREATE TABLE monitoring_reading (
    sensor_id integer NOT NULL,
    seq bigint NOT NULL,
    time timestamptz NOT NULL,
    value double precision NOT NULL,
    PRIMARY KEY (sensor_id, seq, time)
) PARTITION BY RANGE (time);
CREATE TABLE monitoring_reading_default PARTITION OF monitoring_reading DEFAULT;
CREATE INDEX monitoring_reading_sensor_time ON monitoring_reading (sensor_id, time);

CREATE TABLE monitoring_reading_minute (
    sensor_id integer NOT NULL,
    bucket timestamptz NOT NULL,
    n integer NOT NULL,
    total double precision NOT NULL,
    low double precision NOT NULL,
    high double precision NOT NULL,
    PRIMARY KEY (sensor_id, bucket)
);
CREATE TABLE monitoring_reading_hour (LIKE monitoring_reading_minute INCLUDING ALL);

CREATE FUNCTION monitoring_ensure_partitions(p_months integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    made integer := 0;
    first date;
    upto date;
    part text;
BEGIN
    IF p_months IS NULL OR p_months < 0 OR p_months > 24 THEN
        RAISE EXCEPTION 'monitoring_ensure_partitions: months from 0 to 24' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 0..p_months LOOP
        first := (date_trunc('month', now()) + make_interval(months => i))::date;
        upto := (first + interval '1 month')::date;
        part := 'monitoring_reading_p' || to_char(first, 'YYYYMM');
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
                                ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = part);
        EXECUTE format('CREATE TABLE public.%I (LIKE public.monitoring_reading INCLUDING DEFAULTS)', part);
        EXECUTE format('WITH moved AS (DELETE FROM public.monitoring_reading_default WHERE time >= %L AND time < %L '
                       'RETURNING *) INSERT INTO public.%I SELECT * FROM moved', first, upto, part);
        EXECUTE format('ALTER TABLE public.monitoring_reading ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                       part, first, upto);
        made := made + 1;
    END LOOP;
    RETURN made;
END $$;
REVOKE ALL ON FUNCTION monitoring_ensure_partitions(integer) FROM PUBLIC;

CREATE FUNCTION monitoring_drop_partitions(p_before timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    dropped integer := 0;
    part record;
BEGIN
    FOR part IN SELECT c.relname FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'public.monitoring_reading'::regclass
                  AND c.relname ~ '^monitoring_reading_p[0-9]{6}$' LOOP
        -- a month whose end is before the cut goes whole
        IF (to_date(substr(part.relname, 21), 'YYYYMM') + interval '1 month') <= p_before THEN
            EXECUTE format('DROP TABLE public.%I', part.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    DELETE FROM public.monitoring_reading_default WHERE time < p_before;
    RETURN dropped;
END $$;
REVOKE ALL ON FUNCTION monitoring_drop_partitions(timestamptz) FROM PUBLIC;

SELECT monitoring_ensure_partitions(2);
"""

BACKWARD = """
DROP FUNCTION monitoring_drop_partitions(timestamptz);
DROP FUNCTION monitoring_ensure_partitions(integer);
DROP TABLE monitoring_reading_hour;
DROP TABLE monitoring_reading_minute;
DROP TABLE monitoring_reading;
"""


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0002_sensor_kinds")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
