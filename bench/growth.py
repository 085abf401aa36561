"""Growth past one machine (issue 19): the same figures with 1,000,000 and with 10,000,000 cases in the tables,
in one run, and their ratios.

Stage 1: the benchmarks' October 2026 (bench/_city.py: 1,000,000 cases over 104,431 cells, most of them round
the loop). Stage 2: nine months before it, January to September, a million cases each, every one closed (a
city's archive; each month its own partition) — 10,000,000 in all, October unchanged. At each stage, the tables
vacuumed and analysed as autovacuum would leave them, gunicorn started afresh (production mode, with the workers and
threads the product is served with: deploy/gunicorn.conf.py):

- intake: token-authenticated POST /api/cases/ (JSON, no photo) from concurrent clients for `--seconds`
  (bench/intake.py's client), cases/s and p50/p95, every accepted case stored once;
- the dashboard's heatmap and choropleth at zooms 11, 13 and 15 and its KPIs, over October (bench/dashboard.py's
  requests), p95 of `--requests` each;
- the evaluation (综合评价) of October by bureau and by district, median of 3;
- disk per case: the case, its key and its log entries with every index;
- the machine's speed: a fixed piece of work in Python and in PostgreSQL, timed just before the stage's figures
  (this shared machine's speed varies by the hour: the references tell how fast it was at each stage).

On a fresh database (no case yet), stage 0 comes first: the machine's speed and intake alone, twice — into the empty
month as a new database has it (every connection plans the duplicate search for an empty partition, until the
month's first analysis: incidents migration 0023), then, the tables settled, into the few thousand cases of the
first run — the reference the stages' intake is held against in the same run (growth should cost nothing per case).

After stage 2, the oldest month leaves for the schema `archive` (incidents.archive, `archive_cases`), timed with the
keys' check that follows it (a later run generates that month again and drops the archive before archiving it).

Targets: intake ≥ 300 cases/s at both stages and the second ≥ 0.8 × the first; dashboards p95 ≤ 300 ms at
10 M; the evaluation of a month at 10 M ≤ 1.2 × its time at 1 M.

--smoke: 4 communities, 3,000 cases then 6,000 (three months of 1,000 before October), 2-second intake, in the
smoke database (bench/_django.py), run by `make test`.

Usage: python bench/growth.py [--seconds 20] [--clients 8] [--requests 40] [--quiet-load 0.5] [--jobs 2]
       [--months 9] [--smoke]
"""

import argparse
import os
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _city  # noqa: E402
import _django  # noqa: E402
import dashboard  # noqa: E402
import intake  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
OCTOBER = (_city.HISTORY_START, datetime(2026, 11, 1, tzinfo=TZ))


def _archive_month(k: int, per_month: int) -> str:
    from dispatch.history import generate_history

    first = datetime(2026, 10 - k, 1, tzinfo=TZ)
    after = datetime(2026, 11 - k, 1, tzinfo=TZ)
    # The last report two days before the month ends: every step (33 h at most) stays in its month.
    t0 = time.perf_counter()
    added = generate_history(per_month, first, int((after - first).total_seconds()) - 2 * 86400, f"G{k}",
                             settled=True)
    return f"  {first:%Y-%m}: {added:,} closed cases with their logs generated in {time.perf_counter() - t0:.0f} s"


def archive_months(months: int, per_month: int, jobs: int) -> None:
    """`months` months before October, `per_month` closed cases each, one generation per month (prefix G1…),
    `jobs` months at a time (each month is one statement after another in one server process: two at a time
    keep both cores of a small machine busy)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from django.db import connections

    from incidents.partitions import ensure_partitions

    # Every month from the first to the scheduler's two ahead of now, before the months are generated side by side.
    ensure_partitions(date(2026, 10 - months, 1))
    connections.close_all()  # the workers are forked: each opens its own connection
    with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
        for line in pool.map(_archive_month, range(months, 0, -1), [per_month] * months):
            print(line, flush=True)


def measure_intake(key: str, extent, seconds: float, clients: int) -> dict:
    with _django.gunicorn(*_django.shipped_workers(), MEDIA_ROOT=str(_django.ROOT / "var" / "bench-media")) as server:
        intake.run(server.port, key, extent, 1, 2, False)  # warm the workers
        r = intake.run(server.port, key, extent, seconds, clients, False)
    stored, lost, wrong = intake.check(r)
    if not r["accepted"] or lost or wrong:
        raise SystemExit(f"intake accepted {len(r['accepted'])}, lost {lost}, answered a retry with another case "
                         f"{wrong}; refused: {r['errors'] or 'none'}")
    lat = r["latencies"]
    return {"rate": len(r["accepted"]) / r["wall"], "p50": _django.percentile(lat, .5) * 1000,
            "p95": _django.percentile(lat, .95) * 1000, "stored": stored}


def measure_dashboard(cookie: str, extent, requests: int) -> dict[str, float]:
    import http.client

    period = {"start": f"{OCTOBER[0]:%Y-%m-%d}", "end": f"{OCTOBER[1]:%Y-%m-%d}"}
    with _django.gunicorn(*_django.shipped_workers(), OTP_REQUIRED_ROLES="") as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        figures = dashboard.measure(conn, cookie, extent, period, requests)
    return {f"{f['name']} z{f['zoom']}": f["p95"] for f in figures}


def measure_evaluation(repeat: int) -> dict[str, float]:
    from dispatch.evaluation import evaluate

    times = {}
    for dimension in ("bureau", "district"):
        runs = []
        for _ in range(repeat):
            t = time.perf_counter()
            evaluate(dimension, *OCTOBER)
            runs.append(time.perf_counter() - t)
        times[dimension] = statistics.median(runs)
    return times


def disk_per_case() -> tuple[int, float, int]:
    """Cases, bytes a case (case, key, log entries, every index), and rows the DEFAULT partitions hold (a month
    the history did not make first would land there)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM incidents_case")
        cases = cur.fetchone()[0]
        cur.execute("SELECT (SELECT count(*) FROM incidents_case_default) + (SELECT count(*) FROM "
                    "incidents_caselog_default)")
        stray = cur.fetchone()[0]
        total = 0
        for table in ("incidents_case", "incidents_casekey", "incidents_caselog"):
            cur.execute("SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) "
                        "FROM pg_partition_tree(%s::regclass)), 0)", [table])
            total += int(cur.fetchone()[0])
    return cases, total / cases, stray


def wait_for_quiet(threshold: float | None) -> None:
    """With --quiet-load: wait (up to 30 minutes) until the 1-minute load average is below `threshold`, so that
    both stages are measured on an idle machine whatever ran beside the long generation."""
    if threshold is None:
        return
    t0 = time.perf_counter()
    while os.getloadavg()[0] >= threshold and time.perf_counter() - t0 < 1800:
        time.sleep(10)
    load = os.getloadavg()[0]
    print(f"  load average {load:.2f} after waiting {time.perf_counter() - t0:.0f} s"
          + ("" if load < threshold else f" — NOT quiet (≥ {threshold}): the figures below are under load"), flush=True)


def machine_speed(smoke: bool) -> dict[str, float]:
    """Seconds for a fixed piece of work in Python and in PostgreSQL (best of 3), taken just before a stage's
    figures: this shared machine's speed varies by the hour, and the references say how fast it was when each
    stage was measured — the stages' ratios are the code's only where the references agree."""
    from django.db import connection

    n = 300_000 if smoke else 3_000_000

    def best(work) -> float:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            work()
            times.append(time.perf_counter() - t0)
        return min(times)

    def in_postgres():
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM generate_series(1, %s) i WHERE i %% 7 = 3", [n])
            cur.fetchone()

    return {"python": best(lambda: sum(i * i % 7 for i in range(n))), "postgres": best(in_postgres)}


def stage(label: str, key: str, args) -> dict:
    _city.settle(always=True)
    wait_for_quiet(args.quiet_load)
    extent = _city.district_extent()
    cases, per_case, stray = disk_per_case()
    print(f"{label}: {cases:,} cases in the tables, {per_case:,.0f} bytes a case on disk (case, key, log, indexes); "
          f"{stray:,} rows in the DEFAULT partitions", flush=True)
    figures = {"cases": cases, "bytes": per_case, "speed": machine_speed(args.smoke)}
    speed = figures["speed"]
    print(f"  machine: fixed work in {speed['python']:.3f} s in Python, {speed['postgres']:.3f} s in PostgreSQL (best "
          "of 3; lower is faster)", flush=True)
    figures["intake"] = measure_intake(key, extent, args.seconds, args.clients)
    i = figures["intake"]
    workers, threads = _django.shipped_workers()
    print(f"  intake (JSON, {args.clients} clients, gunicorn {workers} workers × {threads} threads, "
          f"{args.seconds:g} s): {i['rate']:,.0f} cases/s; p50 {i['p50']:.1f} ms, p95 {i['p95']:.1f} ms; "
          "every accepted case stored once", flush=True)
    cookie = dashboard.session_cookie()  # a fresh login: the stages lie further apart than a session lasts
    figures["dashboard"] = measure_dashboard(cookie, extent, args.requests)
    print("  dashboard p95 over October: " + "; ".join(f"{k} {v:.1f} ms" for k, v in figures["dashboard"].items()),
          flush=True)
    figures["evaluation"] = measure_evaluation(args.repeat)
    print("  evaluation of October (median of "
          f"{args.repeat}): " + "; ".join(f"by {k} {v:.2f} s" for k, v in figures["evaluation"].items()), flush=True)
    return figures


def fresh_stage(key: str, args) -> dict | None:
    """Intake into empty tables, with the machine's speed: the same run's reference for the stages (None when the
    database holds cases already: a rerun has no fresh reference). Measured twice: first into the month as a new
    database (or a month's first minute) has it, never analysed, so that every connection plans the duplicate search
    for an empty partition (incidents migration 0023: a scan of the whole month until autovacuum's first analysis
    replans it); then, the tables settled as autovacuum leaves them, the reference the stages are held against."""
    from django.db import connection

    from incidents.models import Case

    if Case.objects.exists():
        print("stage 0: skipped, the database holds cases already (a fresh database gives the reference)",
              flush=True)
        return None
    wait_for_quiet(args.quiet_load)
    speed = machine_speed(args.smoke)
    print(f"stage 0: no case in the tables; machine: fixed work in {speed['python']:.3f} s in Python, "
          f"{speed['postgres']:.3f} s in PostgreSQL", flush=True)
    extent = _city.district_extent()
    first = measure_intake(key, extent, args.seconds, args.clients)
    with connection.cursor() as cur:  # did autovacuum come by during the run (and replan it from then on)?
        cur.execute("SELECT max(last_autoanalyze) FROM pg_stat_user_tables WHERE relname LIKE 'incidents_case_p%%'")
        analysed = cur.fetchone()[0]
    print(f"  intake into the month before its first analysis: {first['rate']:,.0f} cases/s; "
          f"p50 {first['p50']:.1f} ms, p95 {first['p95']:.1f} ms; autovacuum "
          + (f"analysed it at {analysed.astimezone(TZ):%H:%M:%S}" if analysed else "did not analyse it meanwhile"),
          flush=True)
    _city.settle(always=True)
    wait_for_quiet(args.quiet_load)
    i = measure_intake(key, extent, args.seconds, args.clients)
    print(f"  intake after it ({Case.objects.count():,} cases in the tables): {i['rate']:,.0f} cases/s; "
          f"p50 {i['p50']:.1f} ms, p95 {i['p95']:.1f} ms", flush=True)
    return {"speed": speed, "intake": i, "first": first}


def measure_archive(key: str) -> str:
    """The oldest month of cases into the archive, timed, while reports come in one at a time (a city's ordinary
    stream, not a load): how long the longest of them waited, in the move's transaction and in the keys' batches
    after it. The benchmark's database is a scratch one: an archive an earlier run left is dropped first, so that the
    month is always a first archive (partitions detached), and the oldest month is the one present, whatever
    `--months` an earlier run used."""
    import http.client
    import json
    import threading
    import uuid

    from django.db import connection

    from citygrid.dbroles import as_owner
    from incidents.archive import archive_through, finish_keys

    finish_keys()  # keys a run stopped before moving would stay live without their archive, and clash later
    with as_owner(), connection.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS archive CASCADE")
        cur.execute("SELECT min(created_at) FROM incidents_case")
        oldest = cur.fetchone()[0].astimezone(TZ).date().replace(day=1)
        # where the reports are made: inside cells of the district (its bounding box's corners are not)
        cur.execute("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM grids_cell "
                    "ORDER BY id LIMIT 500) c")
        places = cur.fetchall()
    waits: list[tuple[float, float, int]] = []  # (sent, seconds, status; 0: no answer)
    stop = threading.Event()

    def reports(port: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        k = 0
        while not stop.is_set():
            k += 1
            lon, lat = places[k % len(places)]
            body = json.dumps({"client_uuid": str(uuid.uuid4()), "category": "SJ0601", "description": "归档时上报",
                               "lon": lon, "lat": lat})
            t = time.perf_counter()
            try:
                conn.request("POST", "/api/cases/", body=body,
                             headers={"Authorization": f"Token {key}", "Content-Type": "application/json"})
                answer = conn.getresponse()
                answer.read()
                status = answer.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                status = 0
            waits.append((t, time.perf_counter() - t, status))
            stop.wait(0.1)

    # a report may wait out the whole move: the worker must not be killed for it (gunicorn's 30 s)
    with _django.gunicorn(1, 1, GUNICORN_CMD_ARGS="--timeout 900") as server:
        probe = threading.Thread(target=reports, args=(server.port,))
        probe.start()
        time.sleep(1)
        t0 = time.perf_counter()
        done = archive_through(oldest)
        elapsed = time.perf_counter() - t0
        time.sleep(1)
        stop.set()
        probe.join()
    steps = sum(n for table, n in done.moved if table.startswith("incidents_caselog"))
    moving = [w for t, w, _ in waits if t0 <= t < t0 + done.move_s] or [0.0]
    keying = [w for t, w, _ in waits if t0 + done.move_s <= t < t0 + elapsed] or [0.0]
    failed = sum(1 for _, _, status in waits if status not in (200, 201))
    if failed or done.unchecked:
        raise SystemExit(f"archive: {failed} reports failed meanwhile (statuses "
                         f"{sorted({s for _, _, s in waits if s not in (200, 201)})}, 0: no answer); "
                         f"keys: {done.unchecked or 'moved'}")
    return (f"  archive of {oldest:%Y-%m}: {done.cases:,} cases and {steps:,} steps into the schema archive in "
            f"{elapsed:.1f} s: the move {done.move_s:.1f} s (a report waited at most {max(moving) * 1000:,.0f} ms), "
            f"the keys after it {done.keys_s:.1f} s (at most {max(keying) * 1000:,.0f} ms; {len(keying)} reports "
            "meanwhile)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--clients", type=int)
    parser.add_argument("--requests", type=int)
    parser.add_argument("--quiet-load", type=float, help="measure only once the load average is below this")
    parser.add_argument("--jobs", type=int, default=2, help="months generated side by side")
    parser.add_argument("--months", type=int, help="archive months before October (9: 10 M cases in all; fewer for "
                                                   "a shorter run)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    args.seconds = args.seconds or (2 if args.smoke else 20)
    args.clients = args.clients or (4 if args.smoke else 8)
    args.requests = args.requests or (3 if args.smoke else 40)
    args.repeat = 1 if args.smoke else 3
    first, months, per_month = (3000, 3, 1000) if args.smoke else (1_000_000, 9, 1_000_000)
    months = args.months or months
    started = time.perf_counter()
    _django.setup(smoke=args.smoke)
    from django.contrib.auth.models import Group, User

    from citygrid.models import ApiToken, StaffProfile

    _city.build_grid(args.smoke)
    _city.ensure_bureaus_and_rules()
    user, _ = User.objects.get_or_create(username="bench_inspector")
    user.groups.add(Group.objects.get_or_create(name="inspector")[0])
    StaffProfile.objects.get_or_create(user=user)
    _, key = ApiToken.issue(user, "bench", days=1)
    mode = " (smoke mode)" if args.smoke else ""
    fresh = fresh_stage(key, args)
    _city.ensure_history(first)
    small = stage(f"stage 1{mode}", key, args)
    t0 = time.perf_counter()
    archive_months(months, per_month, args.jobs)
    print(f"  {months} months generated in {timedelta(seconds=round(time.perf_counter() - t0))}", flush=True)
    large = stage(f"stage 2{mode}", key, args)
    archived = measure_archive(key)

    print(f"growth from {small['cases']:,} to {large['cases']:,} cases{mode}:")
    ratio = large["intake"]["rate"] / small["intake"]["rate"]
    print(f"  intake: {small['intake']['rate']:,.0f} → {large['intake']['rate']:,.0f} cases/s, ratio {ratio:.2f} "
          f"(target ≥ 300 at both, ratio ≥ 0.8); p95 {small['intake']['p95']:.1f} → {large['intake']['p95']:.1f} ms")
    if fresh:
        print(f"  intake into (almost) empty tables in this run: {fresh['intake']['rate']:,.0f} cases/s; stage 1 "
              f"{small['intake']['rate'] / fresh['intake']['rate']:.2f} ×, stage 2 "
              f"{large['intake']['rate'] / fresh['intake']['rate']:.2f} × of it; machine's fixed work then "
              + ", ".join(f"{k} {fresh['speed'][k]:.3f} s" for k in ("python", "postgres")))
    worst = max(large["dashboard"], key=large["dashboard"].get)
    print(f"  dashboard: slowest p95 at {large['cases']:,} {large['dashboard'][worst]:.1f} ms ({worst}; target "
          f"≤ 300 ms); at {small['cases']:,} {max(small['dashboard'].values()):.1f} ms")
    for dimension, t in large["evaluation"].items():
        print(f"  evaluation of October by {dimension}: {small['evaluation'][dimension]:.2f} → {t:.2f} s, ratio "
              f"{t / small['evaluation'][dimension]:.2f} (target ≤ 1.2)")
    print(f"  disk per case: {small['bytes']:,.0f} → {large['bytes']:,.0f} bytes")
    print("  machine's fixed work, stage 2 against stage 1: "
          + ", ".join(f"{k} {large['speed'][k] / small['speed'][k]:.2f} ×" for k in ("python", "postgres"))
          + " (above 1: the machine was slower for stage 2)")
    print(archived)
    print(f"total {timedelta(seconds=round(time.perf_counter() - started))}, peak memory of this process "
          f"{_django.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
