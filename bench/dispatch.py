"""Dispatch figures on generated data, in the scratch database of bench/locate.py:

  - routing + deadline for 100,000 cases (rules in memory, working calendar arithmetic);
  - nearest available units among 10,000 moving units (PostGIS KNN), and position updates;
  - evaluation (综合评价) over 1,000,000 cases and their logs, for each dimension.

Usage: python bench/dispatch.py [--cases 100000] [--units 10000] [--evaluation-cases 1000000]
"""

import argparse
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _django  # noqa: E402


def ensure_bureaus_and_rules():
    from dispatch.models import RoutingRule
    from grids.models import Area, Bureau, Level
    from incidents.models import Category

    kinds = sorted({c.default_bureau_kind for c in Category.objects.filter(parent__isnull=False)})
    bureaus = {k: Bureau.objects.get_or_create(code=f"BENCH-{k}", defaults={"name": f"基准{k}", "kind": k})[0]
               for k in kinds}
    if not RoutingRule.objects.exists():
        streets = list(Area.objects.filter(level=Level.STREET))
        for category in Category.objects.filter(parent__isnull=False):
            RoutingRule.objects.create(category=category, bureau=bureaus[category.default_bureau_kind])
            for street in streets[:3]:  # some street-level exceptions, as cities have
                RoutingRule.objects.create(category=category, area=street, bureau=bureaus["city_management"])
    return bureaus


def bench_routing(n: int) -> None:
    from django.utils import timezone

    from dispatch.calendar import WorkingCalendar
    from dispatch.routing import RuleBook
    from grids.models import Cell
    from incidents.models import Case, Category

    cells = list(Cell.objects.values_list("pk", "community_id", "street_id", "district_id")[:20000])
    categories = list(Category.objects.filter(parent__isnull=False).prefetch_related("time_limits"))
    limits = {(t.category_id, t.urgency): t for c in categories for t in c.time_limits.all()}
    rnd = random.Random(5)
    cases = []
    for _ in range(n):
        cell, community, street, district = rnd.choice(cells)
        category = rnd.choice(categories)
        urgency = rnd.choice([u for (cid, u) in limits if cid == category.pk])
        cases.append(Case(category=category, cell_id=cell, community_id=community, street_id=street,
                          district_id=district, urgency=urgency))
    t0 = time.perf_counter()
    book, calendar = RuleBook(), WorkingCalendar.load()
    now = timezone.now()
    lat = []
    for case in cases:
        t = time.perf_counter()
        decision = book.route(case, now)
        limit = limits[(case.category_id, case.urgency)]
        calendar.add_limit(now, limit.amount, limit.unit)
        lat.append(time.perf_counter() - t)
        assert decision.rule is not None
    elapsed = time.perf_counter() - t0
    lat.sort()
    print(f"route + deadline: {n / elapsed:,.0f} cases/s ({n} cases, {elapsed:.2f} s); per case p50 "
          f"{_django.percentile(lat, .5) * 1e6:.0f} µs, p95 {_django.percentile(lat, .95) * 1e6:.0f} µs", flush=True)


def bench_units(n: int) -> None:
    from django.contrib.gis.geos import Point
    from django.db import connection
    from django.utils import timezone

    from dispatch.emergency import nearest_units, report_position
    from dispatch.models import ResponseUnit
    from grids.models import Area, Bureau

    minx, miny, maxx, maxy = Area.objects.get(code="430302").geom.extent
    bureau_ids = list(Bureau.objects.values_list("pk", flat=True))
    rnd = random.Random(9)
    if ResponseUnit.objects.count() < n:
        ResponseUnit.objects.filter(code__startswith="BU").delete()
        now = timezone.now()
        ResponseUnit.objects.bulk_create([
            ResponseUnit(code=f"BU{i:05d}", name=f"单元{i}", bureau_id=rnd.choice(bureau_ids),
                         state="available" if rnd.random() < 0.7 else "busy",
                         position=Point(rnd.uniform(minx, maxx), rnd.uniform(miny, maxy), srid=4326),
                         position_at=now - timedelta(seconds=rnd.uniform(0, 900))) for i in range(n)],
            batch_size=2000)
        with connection.cursor() as cur:
            cur.execute("ANALYZE dispatch_responseunit")
    units = list(ResponseUnit.objects.filter(code__startswith="BU")[:n])
    # Units move: fresh positions for all of them, as their devices would send.
    t0 = time.perf_counter()
    now = timezone.now()
    for unit in units:
        report_position(unit, rnd.uniform(minx, maxx), rnd.uniform(miny, maxy), now)
    moved = len(units) / (time.perf_counter() - t0)
    with connection.cursor() as cur:
        # Every position report leaves a dead row version; autovacuum clears them in a live system.
        cur.execute("VACUUM ANALYZE dispatch_responseunit")
    lat = []
    for _ in range(2000):
        p = Point(rnd.uniform(minx, maxx), rnd.uniform(miny, maxy), srid=4326)
        t = time.perf_counter()
        found = nearest_units(p, limit=5)
        lat.append(time.perf_counter() - t)
        assert len(found) == 5
    lat.sort()
    print(f"nearest 5 available units among {len(units)}: {len(lat) / sum(lat):,.0f} queries/s, p50 "
          f"{_django.percentile(lat, .5) * 1000:.2f} ms, p95 {_django.percentile(lat, .95) * 1000:.2f} ms; "
          f"position updates {moved:,.0f}/s", flush=True)


def ensure_evaluation_data(n: int) -> None:
    """Cases and log entries generated in SQL: a month of reports over the grid, most going round the loop."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM incidents_case WHERE number LIKE 'EV%'")
        have = cur.fetchone()[0]
        if have >= n:
            return
        t0 = time.perf_counter()
        cur.execute("CREATE TEMP TABLE ev AS SELECT g AS i FROM generate_series(%s, %s) g", [have + 1, n])
        # The id lists are scalar subqueries, computed once (an InitPlan); read from a table row instead, the
        # whole array would be detoasted for every generated case.
        cur.execute("""
            INSERT INTO incidents_case (number, client_uuid, location, address, cell_id, community_id, street_id,
                district_id, category_id, description, urgency, source, contact_name, contact_phone, contact_email,
                status, bureau_id, deadline, rework_count, version, created_at, updated_at, status_since)
            SELECT 'EV' || lpad(e.i::text, 9, '0'), gen_random_uuid(), ST_PointOnSurface(c.geom), '', c.id,
                   c.community_id, c.street_id, c.district_id,
                   (SELECT array_agg(id ORDER BY id) FROM incidents_category WHERE parent_id IS NOT NULL)
                       [(1 + (e.i * 7) % (SELECT count(*) FROM incidents_category WHERE parent_id IS NOT NULL))::int],
                   '', 'normal', 'inspector', '', '', '',
                   CASE WHEN e.i % 10 < 7 THEN 'closed' WHEN e.i % 10 < 9 THEN 'in_progress' ELSE 'reported' END,
                   (SELECT array_agg(id ORDER BY id) FROM grids_bureau)
                       [(1 + e.i % (SELECT count(*) FROM grids_bureau))::int],
                   timestamp '2026-10-01' + (e.i % 2592000) * interval '1 second' + interval '26 hours',
                   0, 1, timestamp '2026-10-01' + (e.i % 2592000) * interval '1 second', now(),
                   timestamp '2026-10-01' + (e.i % 2592000) * interval '1 second'
            FROM ev e
            JOIN grids_cell c ON c.id = (SELECT array_agg(id ORDER BY id) FROM grids_cell)
                                        [(1 + (e.i * 13) % (SELECT count(*) FROM grids_cell))::int]""")
        # (action, from, to, seconds after the report, seconds in the previous status, which cases)
        steps = [("report", "", "reported", 0, None, "true"),
                 ("register", "reported", "registered", 1800, 1800, "e.i % 10 < 9"),
                 ("dispatch", "registered", "dispatched", 3600, 1800, "e.i % 10 < 9"),
                 ("return", "dispatched", "returned", 5400, 1800, "e.i % 37 = 0"),
                 ("process", "in_progress", "processed", 20 * 3600, 19 * 3600, "e.i % 10 < 7"),
                 ("verify_fail", "processed", "in_progress", 22 * 3600, 2 * 3600, "e.i % 23 = 0"),
                 ("verify_pass", "processed", "verified", 24 * 3600, 4 * 3600, "e.i % 10 < 7"),
                 ("close", "verified", "closed", 25 * 3600, 3600, "e.i % 10 < 7")]
        for action, frm, to, offset, seconds, condition in steps:
            # One processing report in six comes 8 hours late, after the 26-hour deadline.
            late = "(CASE WHEN e.i % 6 = 0 THEN 8 * 3600 ELSE 0 END)" if action == "process" else "0"
            met = "e.i % 6 <> 0" if action == "process" else "NULL"
            cur.execute(f"""
                INSERT INTO incidents_caselog (case_id, action, from_status, to_status, note, created_at, bureau_id,
                                               seconds_in_from_status, deadline_met)
                SELECT c.id, '{action}', '{frm}', '{to}', '', c.created_at + ({offset} + {late}) * interval '1 second',
                       CASE WHEN '{action}' IN ('report', 'register') THEN NULL ELSE c.bureau_id END,
                       {seconds if seconds is not None else 'NULL'} + {late}, {met}
                FROM ev e JOIN incidents_case c ON c.number = 'EV' || lpad(e.i::text, 9, '0')
                WHERE {condition}""")
        cur.execute("ANALYZE incidents_case; ANALYZE incidents_caselog")
        print(f"generated {n - have:,} cases with their logs in {time.perf_counter() - t0:.0f} s", flush=True)


def bench_evaluation() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from dispatch.evaluation import evaluate

    tz = ZoneInfo("Asia/Shanghai")
    start, end = datetime(2026, 10, 1, tzinfo=tz), datetime(2026, 11, 1, tzinfo=tz)
    for dimension in ("bureau", "district", "street", "cell", "inspector"):
        t = time.perf_counter()
        rows = evaluate(dimension, start, end)
        elapsed = time.perf_counter() - t
        total = sum(r.reported for r in rows)
        print(f"evaluation by {dimension} over October (≈1M cases): {elapsed:.2f} s, {len(rows)} rows, "
              f"{total:,} reports counted", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--evaluation-cases", type=int, default=1_000_000)
    args = parser.parse_args()
    _django.setup()
    import locate as locate_bench

    locate_bench.build_grid()
    ensure_bureaus_and_rules()
    bench_routing(args.cases)
    bench_units(args.units)
    ensure_evaluation_data(args.evaluation_cases)
    bench_evaluation()
    print(f"peak memory (benchmark process): {_django.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
