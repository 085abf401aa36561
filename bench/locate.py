"""Point → cell lookup throughput on a generated grid of more than 100,000 cells.

Builds (once, in the scratch database citygrid_bench: bench/_city.py) one district of 121 communities, each an
irregular quadrilateral of about 2.9 km across, cut into 100 m cells by the product's own generate_cells; then
times
  - single lookups through grids.locate.locate (one statement per point, persistent connection),
  - batch lookups through grids.locate.locate_many (100,000 points in one statement),
  - the same over HTTP against gunicorn (2 workers), as an operator with an API token: GET /api/grids/locate
    one point at a time from 4 clients (points outside the district answer 404, not logged), and POST of a
    100,000-point batch,
and prints, beside them, the raw-PostGIS reference of ../shared/tools/raw_locate_limit.py when it is there.

--smoke: 4 communities (about 3,400 cells), 2,000 points, 200 single lookups, no reference, in the smoke
database (bench/_django.py): a few seconds, run by `make test`.

Usage: python bench/locate.py [--points 100000] [--single 3000] [--no-http] [--no-reference] [--smoke]
"""

import argparse
import http.client
import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _city  # noqa: E402
import _django  # noqa: E402


def random_points(n: int, seed: int) -> list[tuple[float, float]]:
    minx, miny, maxx, maxy = _city.district_extent()
    rnd = random.Random(seed)
    return [(rnd.uniform(minx, maxx), rnd.uniform(miny, maxy)) for _ in range(n)]


def bench_single(points) -> tuple[float, float, float]:
    from grids.locate import locate_many

    locate_many(points[:50])  # warm the connection and PROJ
    lat = []
    t0 = time.perf_counter()
    for p in points:
        t = time.perf_counter()
        locate_many([p])
        lat.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - t0
    lat.sort()
    return len(points) / elapsed, _django.percentile(lat, 0.5) * 1000, _django.percentile(lat, 0.95) * 1000


def bench_batch(points) -> tuple[float, int]:
    from grids.locate import locate_many

    best, found = 0.0, 0
    for _ in range(3):
        t = time.perf_counter()
        results = locate_many(points)
        best = max(best, len(points) / (time.perf_counter() - t))
        found = sum(1 for r in results if r is not None and r.cell_id)
    return best, found


def http_figures(points, single: int) -> dict:
    from django.contrib.auth.models import Group, User

    from citygrid import roles
    from citygrid.models import ApiToken, StaffProfile

    # Every endpoint needs a role (citygrid/policy.py); a city-level operator may locate anywhere. Tokens
    # are not subject to the first-login password change or the second factor of session logins.
    user, _ = User.objects.get_or_create(username="bench")
    user.groups.add(Group.objects.get_or_create(name=roles.OPERATOR)[0])
    StaffProfile.objects.get_or_create(user=user)
    _, key = ApiToken.issue(user, "bench", days=1)
    with _django.gunicorn(2, GRID_LOCATE_BATCH_MAX=str(len(points))) as server:
        headers = {"Authorization": f"Token {key}"}
        statuses: dict[int, int] = {}
        urls = [f"/api/grids/locate?lon={lon}&lat={lat_}" for lon, lat_ in points[:single]]
        # A point outside the city is a 404 the benchmark expects (its random points cover the extent's corners).
        lat, _sizes, wall = _django.timed_gets(server.port, key, urls, accept=frozenset({200, 404}), tally=statuses)
        rate = len(urls) / wall
        body = json.dumps({"points": [list(p) for p in points]})
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        best = 0.0
        for _ in range(2):
            t = time.perf_counter()
            conn.request("POST", "/api/grids/locate", body=body,
                         headers={**headers, "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise SystemExit(f"batch locate over HTTP answered {r.status}")
            best = max(best, len(points) / (time.perf_counter() - t))
        return {"rate": rate, "p50": _django.percentile(lat, 0.5) * 1000, "p95": _django.percentile(lat, 0.95) * 1000,
                "batch": best, "outside": statuses.get(404, 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int)
    parser.add_argument("--single", type=int)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="a small grid and few points, no reference")
    args = parser.parse_args()
    points_n = args.points or (2000 if args.smoke else 100_000)
    single_n = args.single or (200 if args.smoke else 3000)
    _django.setup(smoke=args.smoke)
    from django.conf import settings

    settings.GRID_LOCATE_BATCH_MAX = max(settings.GRID_LOCATE_BATCH_MAX, points_n)
    _city.build_grid(args.smoke)
    from grids.models import Cell, LatticeSquare

    cells, squares = Cell.objects.count(), LatticeSquare.objects.count()
    print(f"grid: {cells} cells, {squares} whole lattice squares ({squares / cells:.0%} of cells answer by arithmetic)")
    points = random_points(points_n, seed=7)
    rate, p50, p95 = bench_single(random_points(single_n, seed=8))
    print(f"single locate (function): {rate:,.0f} lookups/s, p50 {p50:.2f} ms, p95 {p95:.2f} ms")
    rate, found = bench_batch(points)
    print(f"batch locate (function): {rate:,.0f} points/s ({len(points)} points, {found} in a cell, best of 3)")
    if not args.no_http:
        h = http_figures(points, single_n)
        print(f"single locate (HTTP, gunicorn 2 workers, 4 clients): {h['rate']:,.0f} lookups/s, "
              f"p50 {h['p50']:.2f} ms, p95 {h['p95']:.2f} ms ({h['outside']} outside the district: 404)")
        print(f"batch locate (HTTP POST, {len(points)} points): {h['batch']:,.0f} points/s")
    print(f"peak memory (benchmark process): {_django.peak_rss_mb():.0f} MB", flush=True)
    tool = _django.ROOT.parent / "shared" / "tools" / "raw_locate_limit.py"
    if args.no_reference or args.smoke:
        return
    if tool.exists():
        print("reference (raw PostGIS, same machine, now):", flush=True)
        subprocess.run([sys.executable, str(tool)], check=False)
    else:
        print(f"reference tool not found at {tool}")


if __name__ == "__main__":
    main()
