"""Readings: checked, stored in batches once each, rolled up by minute and hour, and read back for a chart at
the resolution its span needs.

A batch is one statement: the raw rows go in with ON CONFLICT DO NOTHING (a QoS 1 redelivery or a gateway's
retry is stored once), and only the rows that really went in are added to the rollups, in the same statement,
so a repeated reading never counts twice in a minute's mean either."""

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .models import Rejection, Sensor


@dataclass(frozen=True)
class Reading:
    sensor_id: int
    seq: int
    time: datetime
    value: float


@dataclass(frozen=True)
class SensorInfo:
    """What checking a reading needs of its sensor, cached by the ingest."""

    id: int
    kind_min: float
    kind_max: float


class Refused(ValueError):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def sensor_table(owner_id: int | None = None) -> dict[str, SensorInfo]:
    """Active sensors by code (of one owner bureau when given), with their kind's physical range."""
    qs = Sensor.objects.filter(active=True)
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    return {code: SensorInfo(pk, lo, hi) for code, pk, lo, hi in
            qs.values_list("code", "pk", "kind__physical_min", "kind__physical_max")}


# A device that samples more often than it reports (a battery-powered level sensor sending a minute's samples at
# once) or a gateway forwarding several may put an array of readings in one message: one MQTT message, one
# acknowledgement, for many readings. Longer arrays are refused whole.
MAX_READINGS_PER_MESSAGE = 100


def split_message(code: str, payload: bytes | str) -> list[tuple[str, object]]:
    """One MQTT message of sensor `code` as (code, reading) pairs for `parse`: a JSON reading object, or an array
    of up to MAX_READINGS_PER_MESSAGE of them. Decoded once here; what is not JSON goes on as it is, for `parse` to
    refuse and count."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return [(code, payload)]
    if isinstance(data, list) and 0 < len(data) <= MAX_READINGS_PER_MESSAGE:
        return [(code, item) for item in data]
    return [(code, data)]  # a reading, or what parse refuses (an empty or too long array is not a reading)


def parse(code: str, payload: bytes | str | dict, sensors: dict[str, SensorInfo],
          now: datetime | None = None) -> Reading:
    """One reading of sensor `code` from its JSON `{"t": ISO 8601 or epoch seconds, "v": number, "seq": int}`
    (also `time`, `value`); Refused with the reason otherwise."""
    info = sensors.get(code)
    if info is None:
        raise Refused(Rejection.Reason.UNKNOWN_SENSOR, code[:60])
    if not isinstance(payload, bytes | str):
        data = payload  # decoded already (split_message, or a gateway's JSON body)
    else:
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Refused(Rejection.Reason.MALFORMED, f"{code}: not JSON") from exc
    if not isinstance(data, dict):
        raise Refused(Rejection.Reason.MALFORMED, f"{code}: not a JSON object")
    value, seq, t = data.get("v", data.get("value")), data.get("seq"), data.get("t", data.get("time"))
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Refused(Rejection.Reason.MALFORMED, f"{code}: value")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**63:
        raise Refused(Rejection.Reason.MALFORMED, f"{code}: seq")
    try:
        if isinstance(t, int | float) and not isinstance(t, bool):
            when = datetime.fromtimestamp(t, tz=UTC)
        elif isinstance(t, str):
            when = datetime.fromisoformat(t)
            if when.tzinfo is None:
                raise ValueError("no time zone")
        else:
            raise ValueError("no time")
    except (ValueError, OverflowError, OSError) as exc:
        raise Refused(Rejection.Reason.MALFORMED, f"{code}: time") from exc
    now = now or timezone.now()
    if when > now + timedelta(seconds=settings.INGEST_FUTURE_SECONDS):
        raise Refused(Rejection.Reason.FUTURE, f"{code}: {t}")
    if when < now - timedelta(days=settings.READINGS_RAW_DAYS):
        raise Refused(Rejection.Reason.TOO_OLD, f"{code}: {t}")
    if not info.kind_min <= value <= info.kind_max:
        raise Refused(Rejection.Reason.OUT_OF_RANGE, f"{code}: {value}")
    return Reading(info.id, seq, when, float(value))


_INSERT = """
WITH batch AS (
    SELECT * FROM unnest(%(sensor)s::integer[], %(seq)s::bigint[], %(time)s::timestamptz[], %(value)s::float8[])
        AS b(sensor_id, seq, time, value)
), stored AS (
    INSERT INTO monitoring_reading (sensor_id, seq, time, value) SELECT DISTINCT ON (sensor_id, seq, time) * FROM batch
    ON CONFLICT DO NOTHING
    RETURNING sensor_id, time, value
), minute AS (
    INSERT INTO monitoring_reading_minute AS m (sensor_id, bucket, n, total, low, high)
    SELECT sensor_id, date_trunc('minute', time), count(*), sum(value), min(value), max(value)
    FROM stored GROUP BY 1, 2
    ON CONFLICT (sensor_id, bucket) DO UPDATE SET n = m.n + excluded.n, total = m.total + excluded.total,
        low = least(m.low, excluded.low), high = greatest(m.high, excluded.high)
), hour AS (
    INSERT INTO monitoring_reading_hour AS h (sensor_id, bucket, n, total, low, high)
    SELECT sensor_id, date_trunc('hour', time), count(*), sum(value), min(value), max(value)
    FROM stored GROUP BY 1, 2
    ON CONFLICT (sensor_id, bucket) DO UPDATE SET n = h.n + excluded.n, total = h.total + excluded.total,
        low = least(h.low, excluded.low), high = greatest(h.high, excluded.high)
)%(quiet)s
"""

# The alarm engine's quiet path, in the same statement: a sensor at rest (state normal, nothing pending) whose new
# readings are all normal — within every level, and within every rate against the reading before — only moves its
# last reading, here, with no row brought back to Python; the others' rows go to monitoring.alarms.on_stored as
# before. The same rules as alarms.classify, in SQL: a test feeds both paths and compares. The UPDATE takes the
# sensors as `quiet` groups them, in id order, as on_stored locks them (an explicit FOR UPDATE in id order costs
# a join the planner makes quadratic); should two ingesting processes still deadlock, PostgreSQL ends one batch,
# which is not acknowledged and comes again. A sensor that another process moved out of rest meanwhile fails the
# UPDATE's recheck and goes to Python with its rows. The recheck compares with `quiet`'s columns, not constants, and
# `quiet` is materialized: planned on the statistics of a registry that was all 'unknown' when last analyzed (a
# fresh import; autovacuum off or not yet by), `state = 'normal'` looked like one row and the planner drove the
# update from it, rescanning the batch for each of ten thousand sensors — two minutes a batch, where by the primary
# key it is milliseconds.
_QUIET = """, fresh AS (
    SELECT st.sensor_id, st.time, st.value,
        coalesce(lag(st.time) OVER w, s.last_time) AS before_time,
        coalesce(lag(st.value) OVER w, s.last_value) AS before_value,
        count(*) OVER (PARTITION BY st.sensor_id, st.time) AS same_time,
        s.state = 'normal' AND s.pending_level = '' AS at_rest,
        coalesce(s.warn_above, k.warn_above) AS warn_above, coalesce(s.alarm_above, k.alarm_above) AS alarm_above,
        coalesce(s.warn_below, k.warn_below) AS warn_below, coalesce(s.alarm_below, k.alarm_below) AS alarm_below,
        nullif(coalesce(s.rate_warn, k.rate_warn), 0) AS rate_warn,
        nullif(coalesce(s.rate_alarm, k.rate_alarm), 0) AS rate_alarm
    FROM stored st JOIN monitoring_sensor s ON s.id = st.sensor_id JOIN monitoring_sensorkind k ON k.id = s.kind_id
    WHERE s.last_time IS NULL OR st.time > s.last_time
    WINDOW w AS (PARTITION BY st.sensor_id ORDER BY st.time)
), judged AS (
    SELECT sensor_id, time, value, at_rest AND before_time IS NOT NULL AND same_time = 1
        AND (warn_above IS NULL OR value < warn_above) AND (alarm_above IS NULL OR value < alarm_above)
        AND (warn_below IS NULL OR value > warn_below) AND (alarm_below IS NULL OR value > alarm_below)
        AND NOT coalesce((rate_warn > 0 AND rate >= rate_warn) OR (rate_warn < 0 AND rate <= rate_warn)
                         OR (rate_alarm > 0 AND rate >= rate_alarm) OR (rate_alarm < 0 AND rate <= rate_alarm),
                         false) AS normal
    FROM (SELECT *, (value - before_value) / greatest(extract(epoch FROM time - before_time) / 60, 1.0) AS rate
          FROM fresh) f
), quiet AS MATERIALIZED (
    SELECT sensor_id, max(time) AS last_time, (array_agg(value ORDER BY time DESC))[1] AS last_value,
        'normal' AS rest_state, '' AS rest_pending
    FROM judged GROUP BY sensor_id HAVING bool_and(normal)
), moved AS (
    UPDATE monitoring_sensor s SET last_time = q.last_time, last_value = q.last_value
    FROM quiet q WHERE s.id = q.sensor_id
        AND s.state = q.rest_state AND s.pending_level = q.rest_pending AND s.last_time < q.last_time
    RETURNING s.id
)
SELECT (SELECT count(*) FROM stored),
    coalesce(json_agg(json_build_array(sensor_id, (extract(epoch FROM time) * 1000000)::bigint, value))
             FILTER (WHERE sensor_id NOT IN (SELECT id FROM moved)), '[]'::json)
FROM stored
"""
_ALL = """
SELECT (SELECT count(*) FROM stored),
    coalesce(json_agg(json_build_array(sensor_id, (extract(epoch FROM time) * 1000000)::bigint, value)), '[]'::json)
FROM stored
"""


def store(readings: list[Reading], *, quiet: bool = False) -> tuple[int, list[tuple[int, datetime, float]]]:
    """Store a batch (in the caller's transaction): (how many were new, the new (sensor, time, value) rows). With
    `quiet`, the sensors at rest whose new readings are all normal are moved in SQL and their rows left out (the
    alarm engine has nothing to do with them)."""
    if not readings:
        return 0, []
    # Rollup rows are locked in one order by every writer, so two ingesting processes cannot deadlock.
    readings = sorted(readings, key=lambda r: (r.sensor_id, r.time, r.seq))
    with connection.cursor() as cur:
        cur.execute(_INSERT.replace("%(quiet)s", _QUIET if quiet else _ALL),
                    {"sensor": [r.sensor_id for r in readings], "seq": [r.seq for r in readings],
                     "time": [r.time.isoformat() for r in readings], "value": [r.value for r in readings]})
        count, rows = cur.fetchone()
    if isinstance(rows, str):  # psycopg2 decodes json itself, unless told not to
        rows = json.loads(rows)
    # Times come as whole microseconds since the epoch: exact, where a float of seconds could round one away.
    return count, [(sensor, _EPOCH + timedelta(microseconds=micros), float(value)) for sensor, micros, value in rows]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def count_refused(counts: dict[str, tuple[int, str]], now: datetime | None = None) -> None:
    """Add refused readings to the day's counters: reason → (how many, one example)."""
    day = timezone.localdate(now or timezone.now())
    for reason, (n, example) in counts.items():
        with transaction.atomic():
            row, _ = Rejection.objects.select_for_update().get_or_create(day=day, reason=reason)
            Rejection.objects.filter(pk=row.pk).update(count=F("count") + n, last_example=example[:300],
                                                       updated_at=timezone.now())


def refused_total(reason: str | None = None) -> int:
    qs = Rejection.objects.all() if reason is None else Rejection.objects.filter(reason=reason)
    return sum(qs.values_list("count", flat=True))


def ensure_partitions(months: int = 2) -> int:
    """The monthly partitions from this month to `months` ahead (the owner's function makes them)."""
    with connection.cursor() as cur:
        cur.execute("SELECT monitoring_ensure_partitions(%s)", [months])
        return cur.fetchone()[0]


def drop_expired(now: datetime | None = None) -> int:
    """Whole months of raw readings older than READINGS_RAW_DAYS go; the rollups stay."""
    cut = (now or timezone.now()) - timedelta(days=settings.READINGS_RAW_DAYS)
    with connection.cursor() as cur:
        cur.execute("SELECT monitoring_drop_partitions(%s)", [cut])
        return cur.fetchone()[0]


# The chart's resolution by span: raw readings up to 6 hours, minute rollups up to 3 days, hours beyond; each
# then binned (date_bin) to about CHART_POINTS points, so a year is as light as an hour.
CHART_POINTS = 300
_RAW_MAX = timedelta(hours=6)
_MINUTE_MAX = timedelta(days=3)


def chart(sensor: Sensor, start: datetime, end: datetime) -> dict:
    """Mean, low and high per bin between start and end, from the finest table that keeps the span light."""
    span = end - start
    step = max(span / CHART_POINTS, timedelta(seconds=1))
    step = timedelta(seconds=math.ceil(step.total_seconds()))
    if span <= _RAW_MAX:
        source, sql = "raw", """
            SELECT date_bin(%(step)s, time, %(origin)s) AS b, avg(value), min(value), max(value), count(*)
            FROM monitoring_reading WHERE sensor_id = %(sensor)s AND time >= %(start)s AND time < %(end)s
            GROUP BY b ORDER BY b"""
    else:
        source = "minute" if span <= _MINUTE_MAX else "hour"
        step = max(step, timedelta(minutes=1) if source == "minute" else timedelta(hours=1))
        sql = f"""
            SELECT date_bin(%(step)s, bucket, %(origin)s) AS b, sum(total) / sum(n), min(low), max(high), sum(n)
            FROM monitoring_reading_{source} WHERE sensor_id = %(sensor)s AND bucket >= %(start)s AND bucket < %(end)s
            GROUP BY b ORDER BY b"""
    with connection.cursor() as cur:
        cur.execute(sql, {"step": step, "origin": datetime(2000, 1, 1, tzinfo=UTC), "sensor": sensor.pk,
                          "start": start, "end": end})
        rows = cur.fetchall()
    return {"sensor": sensor.code, "unit": sensor.kind.unit, "resolution": source, "step_s": int(step.total_seconds()),
            "start": start.isoformat(), "end": end.isoformat(),
            "points": [{"t": timezone.localtime(b).isoformat(), "mean": mean, "low": low, "high": high, "n": n}
                       for b, mean, low, high, n in rows]}
