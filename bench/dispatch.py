"""Dispatch figures on generated data, in the benchmarks' scratch database (bench/_city.py):

  - routing + deadline for 100,000 cases (rules in memory, working calendar arithmetic);
  - nearest available units among 10,000 moving units (PostGIS KNN), and position updates;
  - evaluation (综合评价) over 1,000,000 cases and their logs, for each dimension.

--smoke: 4 communities (about 3,400 cells), 2,000 cases routed, 500 units, evaluation over 3,000 cases, in
the smoke database (bench/_django.py): a few seconds, run by `make test`.

Usage: python bench/dispatch.py [--cases 100000] [--units 10000] [--evaluation-cases 1000000] [--smoke]
"""

import argparse
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _city  # noqa: E402
import _django  # noqa: E402


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
    from grids.models import Bureau

    minx, miny, maxx, maxy = _city.district_extent()
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
        from citygrid.dbroles import analyze

        analyze("dispatch_responseunit")
    units = list(ResponseUnit.objects.filter(code__startswith="BU")[:n])
    # Units move: fresh positions for all of them, as their devices would send.
    t0 = time.perf_counter()
    now = timezone.now()
    for unit in units:
        report_position(unit, rnd.uniform(minx, maxx), rnd.uniform(miny, maxy), now)
    moved = len(units) / (time.perf_counter() - t0)
    # Every position report leaves a dead row version; autovacuum clears them in a live system. Only the table's
    # owner may VACUUM it (the benchmark runs as the runtime role).
    from citygrid.dbroles import as_owner

    with as_owner(), connection.cursor() as cur:
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


def bench_evaluation() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from dispatch.evaluation import evaluate
    from incidents.models import Case

    tz = ZoneInfo("Asia/Shanghai")
    start, end = datetime(2026, 10, 1, tzinfo=tz), datetime(2026, 11, 1, tzinfo=tz)
    cases = Case.objects.filter(created_at__gte=start, created_at__lt=end).count()
    for dimension in ("bureau", "district", "street", "cell", "inspector"):
        t = time.perf_counter()
        rows = evaluate(dimension, start, end)
        elapsed = time.perf_counter() - t
        # A report has no responsible bureau yet: bureaus are credited from the dispatch on.
        reported, dispatched = sum(r.reported for r in rows), sum(r.dispatched for r in rows)
        print(f"evaluation by {dimension} over October ({cases:,} cases): {elapsed:.2f} s, {len(rows):,} rows, "
              f"{reported:,} reports and {dispatched:,} dispatches counted", flush=True)
        # Generated cases have no reporting inspector; every other dimension must see the month's cases.
        if dimension == "bureau" and cases and not dispatched:
            raise SystemExit("evaluation by bureau counted no dispatch: the generated cases have no bureau")
        if dimension in ("district", "street", "cell") and reported < cases:
            raise SystemExit(f"evaluation by {dimension} counted {reported:,} of {cases:,} reports")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int)
    parser.add_argument("--units", type=int)
    parser.add_argument("--evaluation-cases", type=int)
    parser.add_argument("--smoke", action="store_true", help="a small grid and few cases and units")
    args = parser.parse_args()
    routed = args.cases or (2000 if args.smoke else 100_000)
    units = args.units or (500 if args.smoke else 10_000)
    evaluated = args.evaluation_cases or (3000 if args.smoke else 1_000_000)
    _django.setup(smoke=args.smoke)
    _city.build_grid(args.smoke)
    _city.ensure_bureaus_and_rules()
    bench_routing(routed)
    bench_units(units)
    _city.ensure_history(evaluated)
    bench_evaluation()
    print(f"peak memory (benchmark process): {_django.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
