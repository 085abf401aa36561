"""Lifeline monitoring figures through a real Mosquitto (the product's own configuration, started on a free port
from a scratch folder) and the real `manage.py run_ingest` processes, in the benchmarks' scratch database:

  - sustained ingest: readings of N simulated sensors published with QoS 1 by P publisher processes (as gateways
    would), the ingest stopped (SIGTERM) and started again in the middle of the run; readings/s from the first
    publish to the last one stored, and the count sent against the count stored (lost, duplicated);
  - a reading above the alarm level → the case's first entry in the case log the live feed reads: p50/p95;
  - bytes per stored reading (raw partitions and rollups) and the disk a year of 10,000 sensors at one reading a
    minute takes.

--smoke: 200 sensors, 20,000 readings, 20 alarms, in the smoke database (bench/_django.py), run by `make test`.

BENCH_INGEST_LOG_LEVEL=INFO keeps the ingest's own log (connections, totals, duplicates) in the run's folder.

Usage: python bench/sensors.py [--sensors 10000] [--readings 600000] [--publishers 4] [--alarms 100]
                               [--per-message 1] [--smoke]
"""

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _city  # noqa: E402
import _django  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
YEAR_SENSORS, YEAR_READINGS = 10_000, 365 * 24 * 60  # a year of 10,000 sensors at one reading a minute


def prepare(sensors: int) -> tuple[list[str], list[str]]:
    """`sensors` manhole level sensors over the grid (bulk, as an import would), and a few gas sensors for the
    alarm latency (gas alarms at once: no minimum duration). Returns (level codes, gas codes)."""
    from django.contrib.gis.geos import Point
    from django.db import connection

    from grids.models import Bureau
    from monitoring.kinds import load_kinds
    from monitoring.models import Sensor, SensorKind

    load_kinds(SensorKind)
    bureaus = _city.ensure_bureaus_and_rules()
    owner = bureaus.get("water") or Bureau.objects.first()
    x0, y0, x1, y1 = _city.district_extent()
    rnd = random.Random(16)
    kind = SensorKind.objects.get(code="manhole_level")
    existing = set(Sensor.objects.filter(code__startswith="B-").values_list("code", flat=True))
    new = [Sensor(code=f"B-{i:05d}", kind=kind, owner=owner, interval_s=60,
                  position=Point(rnd.uniform(x0, x1), rnd.uniform(y0, y1), srid=4326))
           for i in range(sensors) if f"B-{i:05d}" not in existing]
    Sensor.objects.bulk_create(new, batch_size=2000)
    gas = SensorKind.objects.get(code="gas")
    for i in range(200):
        code = f"G-{i:03d}"
        if not Sensor.objects.filter(code=code).exists():  # saved one by one: located in their cells
            Sensor.objects.create(code=code, kind=gas, owner=owner, interval_s=60,
                                  position=Point(rnd.uniform(x0 + 0.005, x1 - 0.005),
                                                 rnd.uniform(y0 + 0.005, y1 - 0.005), srid=4326))
    from citygrid import dbroles

    with dbroles.as_owner(), connection.cursor() as cur:  # emptied whole: an earlier run's rows, dead or not
        cur.execute("TRUNCATE monitoring_reading, monitoring_reading_minute, monitoring_reading_hour")
    # A run starts from sensors with no history: episodes of an earlier run would carry its alarms on (the cases
    # they raised stay, as cases do).
    from monitoring.models import AlarmEpisode, Silence

    AlarmEpisode.objects.filter(sensor__code__regex=r"^[BG]-").delete()
    Silence.objects.filter(sensor__code__regex=r"^[BG]-").delete()
    Sensor.objects.update(state="unknown", last_time=None, last_value=None, pending_level="", pending_since=None,
                          flapping=False)
    # As a live registry is minutes after a bulk import: vacuumed and its statistics current (this machine's
    # PostgreSQL may run without autovacuum; the ingest's plan joins every batch to the sensors).
    with dbroles.as_owner(), connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) monitoring_sensor")
    return ([f"B-{i:05d}" for i in range(sensors)], [f"G-{i:03d}" for i in range(200)])


def _publisher(args: tuple) -> tuple[int, float]:
    """One publisher process: its share of the readings at full speed, QoS 1, waiting for every PUBACK."""
    import paho.mqtt.client as mqtt

    port, user, key, codes, count, seq0, index, deadline, per_message = args
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{index}", protocol=mqtt.MQTTv311,
                         clean_session=True)
    client.reconnect_delay_set(min_delay=0.2, max_delay=2)  # as devices do: back within seconds of the restart
    client.username_pw_set(user, key)
    client.max_inflight_messages_set(2000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    # One reading a minute per sensor, as the year's estimate assumes, ending now (nothing in the future); with
    # per_message > 1, each message carries that many successive minutes of one sensor (an array of readings).
    ncodes = len(codes)
    minutes = count // ncodes + 1
    t0 = time.time() - minutes * 60
    rounds = -(-count // ncodes)
    infos = []
    for r0 in range(0, rounds, per_message):
        for i, code in enumerate(codes):
            readings = [{"t": t0 + r * 60 + index * 1e-3, "v": round(0.5 + (n % 50) / 100, 2), "seq": seq0 + n}
                        for r in range(r0, min(r0 + per_message, rounds)) if (n := r * ncodes + i) < count]
            if not readings:
                continue
            payload = json.dumps(readings[0] if per_message == 1 else readings, separators=(",", ":"))
            infos.append(client.publish(f"citygrid/sensors/{code}", payload, qos=1))
            if len(infos) >= 20000:  # keep memory flat: wait for the oldest acknowledgements
                for info in infos[:10000]:
                    info.wait_for_publish(max(deadline - time.time(), 0.01))
                infos = infos[10000:]
    for info in infos:
        info.wait_for_publish(max(deadline - time.time(), 0.01))
    done = time.time()
    unacknowledged = sum(not info.is_published() for info in infos)
    client.loop_stop()
    client.disconnect()
    return count, done, unacknowledged


def stored_count() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM monitoring_reading")
        return cur.fetchone()[0]


class Ingest:
    """`manage.py run_ingest` as `make run` starts it, against the bench broker and database."""

    def __init__(self, env: dict, log: Path):
        self.env, self.log = env, log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        out = self.log.open("a")
        self.process = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "run_ingest"], cwd=ROOT,
                                        env=self.env, stdout=out, stderr=out)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds spent by the chain's own processes — the ingest (each incarnation), its PostgreSQL backends and
    Mosquitto — read from /proc while they run: what a reading costs whatever else the machine is doing, and so
    what two idle cores could sustain, where the wall-clock rate only says what this busy machine did."""

    def __init__(self, ingest: "Ingest", folder: Path):
        self.ingest, self.folder = ingest, folder
        self.seen: dict[tuple[str, int], float] = {}

    def sample(self) -> None:
        from django.db import connection

        pids = []
        if self.ingest.process and self.ingest.process.poll() is None:
            pids.append(("ingest", self.ingest.process.pid))
        with contextlib.suppress(OSError, ValueError):  # between the broker's stop and start
            pids.append(("mosquitto", int((self.folder / "mosquitto.pid").read_text().strip())))
        with connection.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
            pids += [("postgres", pid) for (pid,) in cur.fetchall()]
        for key in pids:
            cpu = _cpu_seconds(key[1])
            if cpu is not None:
                self.seen[key] = max(cpu, self.seen.get(key, 0.0))

    def per_reading_us(self, readings: int) -> dict[str, float]:
        totals: dict[str, float] = {}
        for (name, _pid), cpu in self.seen.items():
            totals[name] = totals.get(name, 0.0) + cpu
        return {name: cpu / readings * 1e6 for name, cpu in totals.items()}


class Disruptions:
    """The ingest stopped and started again at a third of the readings stored, the broker at a half: whatever either
    held unacknowledged comes again (the broker keeps the ingest's persistent session on disk across its restart,
    and the publishers resend what it had not acknowledged)."""

    def __init__(self, sent: int, ingest: Ingest, folder: Path, port: int):
        self.sent, self.ingest, self.folder, self.port = sent, ingest, folder, port
        self.ingest_restarted = self.broker_restarted = False
        self.stored_at_ingest_restart = 0
        self.cpu = CpuMeter(ingest, folder)

    def check(self) -> None:
        from monitoring import broker

        self.cpu.sample()
        stored = stored_count()
        if not self.ingest_restarted and stored >= self.sent // 3:
            self.ingest.stop()
            self.ingest_restarted = True
            self.stored_at_ingest_restart = stored
            self.ingest.start()
        elif (self.ingest_restarted and not self.broker_restarted and stored >= self.sent // 2
              and stored > self.stored_at_ingest_restart):  # the new ingest at work: not both restarts at once
            broker.stop(self.folder)
            self.broker_restarted = True
            print(f"  (broker restarted: {broker.start(self.folder, self.port)})", flush=True)


def bench_ingest(port: int, key: str, codes: list[str], readings: int, publishers: int, ingest: Ingest,
                 folder: Path, per_message: int = 1) -> None:
    per = readings // publishers
    sent = per * publishers
    # A publisher gives up waiting for acknowledgements after this, and says so, rather than hang the run.
    deadline = time.time() + (120 if readings <= 50_000 else 1200)
    jobs = [(port, "gateway-bench", key, codes[i::publishers], per, 1_000_000 * (i + 1), i, deadline, per_message)
            for i in range(publishers)]
    ingest.start()
    time.sleep(2)
    t0 = time.time()
    disruptions = Disruptions(sent, ingest, folder, port)
    with multiprocessing.get_context("spawn").Pool(publishers) as pool:
        result = pool.map_async(_publisher, jobs)
        while not result.ready():
            time.sleep(0.2)
            disruptions.check()
        published = result.get()
    published_at = max(done for _, done, _ in published)
    unacknowledged = sum(n for _, _, n in published)
    if unacknowledged:
        raise SystemExit(f"{unacknowledged:,} readings never acknowledged by the broker (publishers gave up waiting); "
                         f"stored so far {stored_count():,} of {sent:,}; the ingest's log: {ingest.log}")
    deadline = time.time() + (120 if readings <= 50_000 else 900)
    while stored_count() < sent and time.time() < deadline:
        disruptions.check()  # the publishers were quicker than a third or a half
        time.sleep(0.2)
    disruptions.cpu.sample()
    t_end = time.time()
    time.sleep(2)  # a late redelivery would land now
    from django.db import connection

    stored = stored_count()
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(sum(n), 0) FROM monitoring_reading_minute")
        rolled = cur.fetchone()[0]
    print(f"ingest: {sent:,} readings of {len(codes):,} sensors from {publishers} publishers, the ingest restarted "
          f"once in the middle{'' if disruptions.ingest_restarted else ' (not reached)'} and the broker once"
          f"{'' if disruptions.broker_restarted else ' (not reached)'}", flush=True)
    print(f"  {per_message} reading{'s' if per_message > 1 else ''} a message; "
          f"published in {published_at - t0:.1f} s, all stored after {t_end - t0:.1f} s: "
          f"{sent / (t_end - t0):,.0f} readings/s sustained", flush=True)
    print(f"  sent {sent:,}, stored {stored:,}: {max(sent - stored, 0):,} lost, {max(stored - sent, 0):,} duplicated; "
          f"minute rollups count {rolled:,}", flush=True)
    cost = disruptions.cpu.per_reading_us(sent)
    chain = sum(cost.values())
    print("  CPU per reading (busy or not, the machine's load aside): " + ", ".join(
        f"{name} {us:.0f} µs" for name, us in sorted(cost.items())) + f"; {chain:.0f} µs in all, so two idle cores "
        f"would carry about {2e6 / max(chain, 1):,.0f} readings/s (the publishers, which are the devices, aside)",
        flush=True)
    if stored != sent or rolled != sent:
        raise SystemExit("readings lost or duplicated")


def bench_alarm_latency(port: int, key: str, gas_codes: list[str], alarms: int) -> None:
    """One reading at 30 %LEL (alarm level 25, no minimum duration) per gas sensor, a tenth of a second apart; the
    time until the case's report entry is in the case log, read every 20 ms as the live feed reads it."""
    import paho.mqtt.client as mqtt
    from django.db import connection

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-alarm", protocol=mqtt.MQTTv311)
    client.username_pw_set("gateway-bench", key)
    client.connect("127.0.0.1", port)
    client.loop_start()
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM incidents_caselog")
        after = cur.fetchone()[0]
    sent_at: dict[str, float] = {}
    seen: dict[str, float] = {}
    for code in gas_codes[:alarms]:
        payload = json.dumps({"t": time.time(), "v": 30.0, "seq": int(time.time() * 1000)})
        sent_at[code] = time.time()
        client.publish(f"citygrid/sensors/{code}", payload, qos=1).wait_for_publish(10)
        _collect(after, seen)
        time.sleep(0.1)
    deadline = time.time() + 30
    while len(seen) < len(sent_at) and time.time() < deadline:
        _collect(after, seen)
        time.sleep(0.02)
    client.loop_stop()
    client.disconnect()
    latencies = sorted(seen[c] - sent_at[c] for c in seen)
    if len(latencies) < len(sent_at):
        raise SystemExit(f"only {len(latencies)} of {len(sent_at)} alarms raised a case")
    print(f"alarm → case in the feed: {len(latencies)} alarms, p50 {_django.percentile(latencies, 0.5) * 1000:.0f} ms, "
          f"p95 {_django.percentile(latencies, 0.95) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms", flush=True)


def _collect(after: int, seen: dict[str, float]) -> None:
    from django.db import connection

    now = time.time()
    with connection.cursor() as cur:
        cur.execute("""SELECT s.code FROM incidents_caselog l JOIN monitoring_alarmepisode e ON e.case_id = l.case_id
                       JOIN monitoring_sensor s ON s.id = e.sensor_id WHERE l.id > %s AND l.action = 'report'""",
                    [after])
        for (code,) in cur.fetchall():
            seen.setdefault(code, now)


def bench_storage() -> None:
    """Bytes as the tables hold them once vacuumed: the rollups' rows are updated in place as readings arrive (an
    hour's row some sixty times), and the dead versions that leaves are autovacuum's to reuse, not data."""
    from django.db import connection

    from citygrid import dbroles

    with dbroles.as_owner(), connection.cursor() as cur:
        cur.execute("VACUUM FULL monitoring_reading_minute, monitoring_reading_hour")
        cur.execute("""SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                       WHERE i.inhparent = 'monitoring_reading'::regclass""")
        for (part,) in cur.fetchall():
            cur.execute(f"VACUUM FULL {part}")
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM monitoring_reading")
        rows = cur.fetchone()[0]
        cur.execute("""SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i
                       WHERE i.inhparent = 'monitoring_reading'::regclass""")
        raw = int(cur.fetchone()[0])
        sizes = {}
        for table in ("monitoring_reading_minute", "monitoring_reading_hour"):
            cur.execute(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")
            n, size = cur.fetchone()
            sizes[table] = (int(n), int(size))
    per_raw = raw / max(rows, 1)
    minute_rows, minute_bytes = sizes["monitoring_reading_minute"]
    hour_rows, hour_bytes = sizes["monitoring_reading_hour"]
    per_minute, per_hour = minute_bytes / max(minute_rows, 1), hour_bytes / max(hour_rows, 1)
    year_raw = YEAR_SENSORS * YEAR_READINGS * per_raw
    year_minute = YEAR_SENSORS * YEAR_READINGS * per_minute  # one reading a minute: one minute row each
    year_hour = YEAR_SENSORS * 365 * 24 * per_hour
    print(f"storage (vacuumed): {per_raw:.0f} bytes per raw reading with its key ({rows:,} rows), {per_minute:.0f} "
          f"per minute rollup row, {per_hour:.0f} per hour rollup row", flush=True)
    print(f"  a year of 10,000 sensors at one reading a minute: raw {year_raw / 1e9:,.0f} GB, minute rollups "
          f"{year_minute / 1e9:,.0f} GB, hour rollups {year_hour / 1e9:,.1f} GB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--sensors", type=int, default=10_000)
    parser.add_argument("--readings", type=int, default=600_000)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--alarms", type=int, default=100)
    parser.add_argument("--per-message", type=int, default=1,
                        help="readings in one MQTT message (an array of one sensor's successive readings)")
    args = parser.parse_args()
    if args.smoke:
        args.sensors, args.readings, args.publishers, args.alarms = 200, 20_000, 2, 20
    folder = Path(tempfile.mkdtemp(prefix="citygrid-bench-mqtt-"))
    port = _django.free_port()
    os.environ["MQTT_URL"] = f"mqtt://127.0.0.1:{port}"
    os.environ["MQTT_DIR"] = str(folder)
    _django.setup(smoke=args.smoke)
    _city.build_grid(smoke=args.smoke)
    codes, gas_codes = prepare(args.sensors)

    from monitoring import broker
    from monitoring.models import Gateway

    gateway = Gateway.objects.filter(code="bench").first() or Gateway(code="bench")
    key = gateway.set_new_key()
    gateway.mqtt_hash = broker.hash_passwords({"gateway-bench": key})["gateway-bench"]
    gateway.save()
    print(broker.start(folder, port), flush=True)
    env = {**os.environ, "LOG_LEVEL": os.environ.get("BENCH_INGEST_LOG_LEVEL", "WARNING")}
    ingest = Ingest(env, folder / "ingest.log")
    t0 = time.perf_counter()
    try:
        bench_ingest(port, key, codes, args.readings, args.publishers, ingest, folder, args.per_message)
        bench_alarm_latency(port, key, gas_codes, args.alarms)
        bench_storage()
    finally:
        ingest.stop()
        broker.stop(folder)
    print(f"total {time.perf_counter() - t0:.0f} s, peak memory of this process {_django.peak_rss_mb():.0f} MB",
          flush=True)


if __name__ == "__main__":
    main()
