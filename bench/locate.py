"""Point → cell lookup throughput on a generated grid of more than 100,000 cells.

Builds (once, in the scratch database citygrid_bench) one district of 121 communities, each an irregular
quadrilateral of about 2.9 km across, cut into 100 m cells by the product's own generate_cells; then times
  - single lookups through grids.locate.locate (one statement per point, persistent connection),
  - batch lookups through grids.locate.locate_many (100,000 points in one statement),
  - the same over HTTP against gunicorn (2 workers): GET /api/grids/locate one point at a time from 4
    clients, and POST of a 100,000-point batch,
and prints, beside them, the raw-PostGIS reference of ../shared/tools/raw_locate_limit.py when it is there.

Usage: python bench/locate.py [--points 100000] [--single 3000] [--no-http] [--no-reference]
"""

import argparse
import http.client
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _django  # noqa: E402

ORIGIN = (112.80, 27.75)  # south-west corner, the same as the reference tool's
MESH = 11  # communities per side
STEP_M = 2900.0
JITTER_M = 100.0


def build_grid() -> None:
    from django.contrib.gis.geos import MultiPolygon, Point, Polygon
    from django.db import transaction

    from grids.generation import analyze_grid_tables, generate_cells
    from grids.models import Area, Cell, Level
    from grids.projection import STORAGE_SRID, transformed

    if Cell.objects.count() >= 100_000:
        return
    t0 = time.perf_counter()
    srid = 4547
    ox, oy = transformed(Point(*ORIGIN, srid=4326), srid).coords
    rnd = random.Random(11)
    corners = {(i, j): (ox + 250 + i * STEP_M + (rnd.uniform(-JITTER_M, JITTER_M) if 0 < i < MESH else 0),
                        oy + 250 + j * STEP_M + (rnd.uniform(-JITTER_M, JITTER_M) if 0 < j < MESH else 0))
               for i in range(MESH + 1) for j in range(MESH + 1)}

    def quad(i0, j0, i1, j1):
        ring = [corners[(i0, j0)], corners[(i1, j0)], corners[(i1, j1)], corners[(i0, j1)], corners[(i0, j0)]]
        return MultiPolygon(transformed(Polygon(ring, srid=srid), STORAGE_SRID), srid=STORAGE_SRID)

    with transaction.atomic():
        Area.objects.all().delete() if not Cell.objects.exists() else None
        city = Area(level=Level.CITY, code="430300", name="基准市", geom=quad(0, 0, MESH, MESH))
        city.save()
        district = Area(level=Level.DISTRICT, code="430302", name="基准区", parent=city, geom=quad(0, 0, MESH, MESH))
        district.save()
        for i in range(MESH):
            street = Area(level=Level.STREET, code=f"430302{i + 1:03d}", name=f"街道{i + 1}", parent=district,
                          geom=quad(i, 0, i + 1, MESH))
            street.save()
            for j in range(MESH):
                community = Area(level=Level.COMMUNITY, code=f"{street.code}{j + 1:03d}", name=f"社区{i + 1}-{j + 1}",
                                 parent=street, geom=quad(i, j, i + 1, j + 1))
                community.save()
                generate_cells(community, size=100)
    analyze_grid_tables()
    print(f"built {Cell.objects.count()} cells in {time.perf_counter() - t0:.0f} s", flush=True)


def random_points(n: int, seed: int) -> list[tuple[float, float]]:
    from grids.models import Area

    minx, miny, maxx, maxy = Area.objects.get(code="430302").geom.extent
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
    from django.contrib.auth.models import User

    from citygrid.models import ApiToken

    user, _ = User.objects.get_or_create(username="bench")
    _, key = ApiToken.issue(user, "bench", days=1)
    port = 8765
    with _django.gunicorn(port, workers=2):
        headers = {"Authorization": f"Token {key}"}
        lat: list[float] = []
        lock = threading.Lock()

        def client(chunk):
            conn = http.client.HTTPConnection("127.0.0.1", port)
            mine = []
            for lon, lat_ in chunk:
                t = time.perf_counter()
                conn.request("GET", f"/api/grids/locate?lon={lon}&lat={lat_}", headers=headers)
                r = conn.getresponse()
                r.read()
                assert r.status in (200, 404), r.status
                mine.append(time.perf_counter() - t)
            with lock:
                lat.extend(mine)

        chunk = points[:single]
        threads = [threading.Thread(target=client, args=(chunk[k::4],)) for k in range(4)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rate = len(chunk) / (time.perf_counter() - t0)
        lat.sort()
        body = json.dumps({"points": [list(p) for p in points]})
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        best = 0.0
        for _ in range(2):
            t = time.perf_counter()
            conn.request("POST", "/api/grids/locate", body=body,
                         headers={**headers, "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
            best = max(best, len(points) / (time.perf_counter() - t))
        return {"rate": rate, "p50": _django.percentile(lat, 0.5) * 1000, "p95": _django.percentile(lat, 0.95) * 1000,
                "batch": best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=3000)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()
    _django.setup()
    from django.conf import settings

    settings.GRID_LOCATE_BATCH_MAX = max(settings.GRID_LOCATE_BATCH_MAX, args.points)
    build_grid()
    from grids.models import Cell, LatticeSquare

    cells, squares = Cell.objects.count(), LatticeSquare.objects.count()
    print(f"grid: {cells} cells, {squares} whole lattice squares ({squares / cells:.0%} of cells answer by arithmetic)")
    points = random_points(args.points, seed=7)
    rate, p50, p95 = bench_single(random_points(args.single, seed=8))
    print(f"single locate (function): {rate:,.0f} lookups/s, p50 {p50:.2f} ms, p95 {p95:.2f} ms")
    rate, found = bench_batch(points)
    print(f"batch locate (function): {rate:,.0f} points/s ({len(points)} points, {found} in a cell, best of 3)")
    if not args.no_http:
        h = http_figures(points, args.single)
        print(f"single locate (HTTP, gunicorn 2 workers, 4 clients): {h['rate']:,.0f} lookups/s, "
              f"p50 {h['p50']:.2f} ms, p95 {h['p95']:.2f} ms")
        print(f"batch locate (HTTP POST, {len(points)} points): {h['batch']:,.0f} points/s")
    print(f"peak memory (benchmark process): {_django.peak_rss_mb():.0f} MB", flush=True)
    tool = _django.ROOT.parent / "shared" / "tools" / "raw_locate_limit.py"
    if args.no_reference:
        return
    if tool.exists():
        print("reference (raw PostGIS, same machine, now):", flush=True)
        subprocess.run([sys.executable, str(tool)], check=False)
    else:
        print(f"reference tool not found at {tool}")


if __name__ == "__main__":
    main()
