"""Upgrading a database that holds a city's cases (issue 19): the database taken back to `incidents` 0014 (before
the log's place, the due tally and the archive), then `migrate` forward as an upgrade runs it, while a report's
writes come in every 0.1 s the way the release before wrote them (a case and its first log entry, SQL naming only
the columns 0014 has, as the runtime role), into the month the history fills (as a city's reports land in
the month being filled: the current one). Prints each migration that took more than 0.1 s with the longest
time a report's writes waited while it ran, the log entries placed by 0022, and checks that no case or log entry
was lost and every entry has its case's place.

Runs on a database of its own (DATABASE_URL's name, or the benchmarks' database's, + `_upgrade`; smoke mode: the
smoke database's + `_upgrade`), made afresh and dropped at the end: it goes back and forth through migrations.

--smoke: 4 communities, 2,000 cases, run by `make test`.

Usage: python bench/upgrade.py [--cases 1000000] [--smoke]
"""

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _city  # noqa: E402
import _django  # noqa: E402

BACK_TO = "0014_case_cell_time"
# A report as the release before 0015 wrote it: the case, then its report entry (the log's place did not exist), in
# one transaction, each its own statement (the case's key is written at the end of the case's statement). It is
# dated in the month the history fills, as a live city's reports land in the month the upgrade is filling (the
# current one): each of 0022's batches over that month holds them up.
REPORT = ("""
INSERT INTO incidents_case (number, client_uuid, location, address, district_id, category_id, description, urgency,
    source, contact_name, contact_phone, contact_email, status, rework_count, version, created_at, updated_at,
    status_since)
VALUES ('UP' || substr(md5(random()::text), 1, 16), gen_random_uuid(), ST_SetSRID(ST_MakePoint(%s, %s), 4326), '',
        %s, %s, '升级时上报', 'normal', 'inspector', '', '', '', 'reported', 0, 1, %s, now(), %s)
RETURNING id""", """
INSERT INTO incidents_caselog (case_id, action, from_status, to_status, note, created_at)
VALUES (%s, 'report', '', 'reported', '', %s)""")


def upgrade_url(smoke: bool) -> str:
    base = _django.smoke_database_url() if smoke else (os.environ.get("DATABASE_URL") or _django.BENCH_DB_URL)
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_upgrade"))


def manage(*args: str, echo=None) -> None:
    """manage.py in a subprocess; `echo` gets each line of its output as it comes, with the time it came."""
    process = subprocess.Popen([sys.executable, "-u", str(_django.ROOT / "manage.py"), *args], cwd=_django.ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if echo:
            echo(time.perf_counter(), line.rstrip())
    if process.wait():
        raise SystemExit(f"manage.py {' '.join(args)} exited {process.returncode}:\n{''.join(lines[-20:])}")


def counts(cur) -> tuple[int, int]:
    """Cases and log entries."""
    cur.execute("SELECT (SELECT count(*) FROM incidents_case), (SELECT count(*) FROM incidents_caselog)")
    return cur.fetchone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    cases = args.cases or (2000 if args.smoke else 1_000_000)
    started = time.perf_counter()
    url = upgrade_url(args.smoke)
    os.environ["DATABASE_URL"] = url
    name = urlsplit(url).path.lstrip("/")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", _django.BENCH_SECRET_KEY)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citygrid.settings")
    sys.path.insert(0, str(_django.ROOT))
    import django

    django.setup()
    from citygrid.dbroles import RUNTIME, connect, drop_database

    drop_database(name)  # what a run cut short left: every run starts from nothing
    _django.setup(url)
    print(f"upgrade from incidents {BACK_TO}" + (" (smoke mode)" if args.smoke else ""), flush=True)
    from django.db import connection

    try:
        _city.build_grid(args.smoke)
        _city.ensure_history(cases)
        connection.close()
        t0 = time.perf_counter()
        manage("migrate", "incidents", BACK_TO, "--noinput", "-v0")
        print(f"  back to {BACK_TO} in {time.perf_counter() - t0:.1f} s", flush=True)

        writer = connect(RUNTIME, name, autocommit=True)
        with writer.cursor() as cur:
            cur.execute("SELECT ST_X(p), ST_Y(p), district_id FROM (SELECT ST_PointOnSurface(geom) AS p, district_id "
                        "FROM grids_cell ORDER BY id LIMIT 200) c")
            places = cur.fetchall()
            cur.execute("SELECT min(id) FROM incidents_category WHERE parent_id IS NOT NULL")
            category = cur.fetchone()[0]
            before = counts(cur)
        waits: list[tuple[float, float]] = []  # (sent, seconds)
        failures: list[str] = []
        stop = threading.Event()

        def reports() -> None:
            k = 0
            with writer.cursor() as cur:
                while not stop.is_set():
                    x, y, district = places[k % len(places)]
                    k += 1
                    t = time.perf_counter()
                    try:
                        cur.execute("BEGIN")
                        at = _city.HISTORY_START + timedelta(days=14, seconds=k)
                        cur.execute(REPORT[0], [x, y, district, category, at, at])
                        cur.execute(REPORT[1], [cur.fetchone()[0], at])
                        cur.execute("COMMIT")
                    except Exception as exc:  # told at the end: the run fails
                        failures.append(str(exc).splitlines()[0])
                        cur.execute("ROLLBACK")
                    waits.append((t, time.perf_counter() - t))
                    stop.wait(0.1)

        # (when, migration) as each ends: migrate writes "Applying X..." as it starts and " OK" on the same line as
        # it ends, so a line arrives when its migration is over (the first mark: migrate's own start).
        marks: list[tuple[float, str]] = []
        current = ""

        def seen(at: float, line: str) -> None:
            nonlocal current
            if line.startswith("Operations to perform"):
                marks.append((at, ""))
                return
            m = re.match(r"\s*Applying (\S+?)\.\.\.(.*)", line)
            if m:
                current, line = m.group(1), m.group(2)
            text = line.strip()
            if text.endswith("OK"):
                text = text[:-2].strip()
                marks.append((at, current))
            if text and not text.startswith(("Apply all", "Running", "Target")):
                print(f"  {current}: {text}", flush=True)

        probe = threading.Thread(target=reports)
        probe.start()
        time.sleep(1)
        t0 = time.perf_counter()
        manage("migrate", "--noinput", "-v1", echo=seen)
        elapsed = time.perf_counter() - t0
        time.sleep(1)
        stop.set()
        probe.join()
        for (start, _before), (end, migration) in zip(marks, marks[1:], strict=False):
            if end - start < 0.1:
                continue
            # a report sent while the migration ran, or one sent before it that was still waiting
            during = [w for t, w in waits if start <= t + w and t < end] or [0.0]
            print(f"  {migration}: {end - start:.1f} s; a report's writes waited at most {max(during) * 1000:,.0f} ms "
                  f"({len(during)} meanwhile)", flush=True)
        if failures:
            raise SystemExit(f"{len(failures)} reports failed during the upgrade, the first: {failures[0]}")
        with writer.cursor() as cur:
            after = counts(cur)
            cur.execute("SELECT count(*) FROM incidents_case WHERE number LIKE 'UP%%'")
            made = cur.fetchone()[0]
            cur.execute("""SELECT count(*) FILTER (WHERE l.district_id IS NULL), count(*) FILTER (WHERE
                           l.district_id IS DISTINCT FROM c.district_id OR l.cell_id IS DISTINCT FROM c.cell_id)
                           FROM incidents_caselog l JOIN incidents_case c ON c.id = l.case_id""")
            unplaced, misplaced = cur.fetchone()
        writer.close()
        lost = before[0] + made - after[0], before[1] + made - after[1]
        print(f"  migrate in {elapsed:.1f} s with {len(waits):,} reports meanwhile, the longest waited "
              f"{max(w for _, w in waits) * 1000:,.0f} ms; {after[0]:,} cases, {after[1]:,} log entries: lost "
              f"{lost[0]} cases, {lost[1]} entries; entries without a place {unplaced}, placed wrong {misplaced}",
              flush=True)
        if any(lost) or unplaced or misplaced:
            raise SystemExit("the upgrade lost rows or left entries without their case's place")
    finally:
        connection.close()
        drop_database(name)
    print(f"total {time.perf_counter() - started:.0f} s, peak memory of this process {_django.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
