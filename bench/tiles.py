"""Vector tiles at a city's size (issue 18), beside the GeoJSON the pages used before, in the same run.

In the benchmarks' city (bench/_city.py: one district of about 104,000 cells of 100 m, 32 km across) with
1,000,000 generated cases (bench/_city.ensure_history: October's history, 30 % still open) and 1,000,000 census
components (spread evenly over the district, written by SQL: the census import itself is timed by
bench/assets.py) and a water network on a street lattice (bench/assets.lattice_network), over HTTP (gunicorn,
2 workers, 4 clients, a city dispatcher's API token):

  - every layer's tiles at zooms 12, 15 and 18 (and 16, where the census starts): p50/p95 per tile and bytes per
    tile — target p95 ≤ 50 ms;
  - per 1600×900 map view: the tiles covering it (fetched by 4 connections, as a browser does) against the
    GeoJSON the page asked for before for the same view (cells: /api/grids/cells/ page by page; components:
    /api/assets/components/), time and bytes; and the console's case list (500 of the open cases) against the
    cases tiles of a city view.

--smoke: 4 communities, 5,000 cases, 5,000 components, 20 requests each, in the smoke database (bench/_django.py):
run by `make test` (tests/test_bench_smoke.py).

Usage: DATABASE_URL=postgis://…/citygrid_tiles_bench python bench/tiles.py [--cases N] [--components N]
       [--requests N] [--smoke]
"""

import argparse
import http.client
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _city  # noqa: E402
import _django  # noqa: E402


def _bench_assets():
    """bench/assets.py's generators (loaded by path: `assets` is the Django app's name)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_assets", Path(__file__).resolve().parent / "assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_assets = _bench_assets()
inner_extent, lattice_network, token = _assets.inner_extent, _assets.lattice_network, _assets.token

SUBCLASSES = ("BJ0101", "BJ0102", "BJ0103", "BJ0104", "BJ0109", "BJ0302", "BJ0402", "BJ0108", "BJ0106", "BJ0202")
ZOOMS = (12, 15, 16, 18)
VIEW_W, VIEW_H = 1600, 900


def ensure_components(n: int) -> None:
    """`n` components of the district spread evenly over it, in one statement (codes as the standard makes them)."""
    from django.db import connection

    from citygrid.dbroles import analyze
    from grids.models import Area

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM assets_component WHERE code LIKE %s", ["TB%"])
        have = cur.fetchone()[0]
        if have >= n:
            print(f"census: {have:,} generated components already there")
            return
        t = time.perf_counter()
        minx, miny, maxx, maxy = inner_extent()
        district = Area.objects.get(code=_city.DISTRICT_CODE).pk
        cur.execute("""
            INSERT INTO assets_component (code, subclass, name, geom, owner, maintainer, status, accuracy, photo,
                                          created_at, updated_at, district_id)
            SELECT 'TB' || lpad(i::text, 9, '0'), (%(subs)s)[1 + i %% %(nsub)s], '', ST_SetSRID(ST_MakePoint(
                       %(minx)s + random() * %(dx)s, %(miny)s + random() * %(dy)s), 4326), '', '',
                   CASE WHEN i %% 13 = 0 THEN 'damaged' ELSE 'good' END, 'B', '', now(), now(), %(district)s
            FROM generate_series(%(start)s, %(n)s) i""",
                    {"subs": list(SUBCLASSES), "nsub": len(SUBCLASSES), "minx": minx, "miny": miny,
                     "dx": maxx - minx, "dy": maxy - miny, "district": district, "start": have + 1, "n": n})
    analyze("assets_component")
    print(f"census: {n - have:,} components generated in {time.perf_counter() - t:.0f} s", flush=True)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def view_at(lon: float, lat: float, z: int) -> tuple[tuple[float, float, float, float], list[tuple[int, int, int]]]:
    """A 1600×900 px view centred on (lon, lat) at zoom z: its bbox and the tiles covering it."""
    per_px = 360 / 256 / 2 ** z
    w, h = VIEW_W * per_px, VIEW_H * per_px * math.cos(math.radians(lat))
    bbox = (lon - w / 2, lat - h / 2, lon + w / 2, lat + h / 2)
    x0, y0 = tile_of(bbox[0], bbox[3], z)
    x1, y1 = tile_of(bbox[2], bbox[1], z)
    return bbox, [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def ms(values: list[float], q: float) -> float:
    return _django.percentile(sorted(values), q) * 1000


def geojson_pages(port: int, key: str, url: str) -> tuple[float, int]:
    """A GeoJSON answer followed page by page (`next`), as the grid map did: time and bytes."""
    import json

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    t, size = time.perf_counter(), 0
    while url:
        conn.request("GET", url, headers={"Authorization": f"Token {key}"})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise SystemExit(f"GET {url} answered {r.status}: {body[:200]!r}")
        size += len(body)
        nxt = json.loads(body).get("next")
        url = nxt.split("127.0.0.1", 1)[-1].split(f":{port}", 1)[-1] if nxt else None
    return time.perf_counter() - t, size


def statement_times(places, pipe_places, n: int) -> None:
    """The tile's one statement alone, in this process (one connection, one at a time): what PostGIS spends on a
    tile, apart from HTTP and the server's queue."""
    from django.contrib.auth.models import User
    from django.db import connection
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from tiles.layers import LAYERS, Tile

    request = Request(APIRequestFactory().get("/tiles/"))
    request.user = User.objects.get(username="bench_assets")
    print("per tile, the statement alone (in process, one connection):", flush=True)
    for layer in ("cells", "components", "pipes", "cases"):
        line = []
        for z in ZOOMS:
            times = []
            for lon, lat in (pipe_places if layer == "pipes" else places)[:n]:
                sql, params = LAYERS[layer].build(request, Tile(z, *tile_of(lon, lat, z)))
                t = time.perf_counter()
                with connection.cursor() as cur:
                    cur.execute(f"SELECT {sql}", params)
                    cur.fetchone()
                times.append(time.perf_counter() - t)
            line.append(f"z{z} p50 {ms(times, 0.5):.1f} / p95 {ms(times, 0.95):.1f} ms")
        print(f"  {layer}: " + ", ".join(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int)
    parser.add_argument("--components", type=int)
    parser.add_argument("--lattice", type=int, help="street lattice side of the water network (nodes)")
    parser.add_argument("--requests", type=int, help="tiles per layer and zoom")
    parser.add_argument("--views", type=int, help="map views per comparison")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    n_cases = args.cases or (5000 if args.smoke else 1_000_000)
    n_components = args.components or (5000 if args.smoke else 1_000_000)
    side = args.lattice or (20 if args.smoke else 120)
    requests = args.requests or (20 if args.smoke else 200)
    n_views = args.views or (3 if args.smoke else 10)
    _django.setup(smoke=args.smoke)
    _city.build_grid(args.smoke)
    from incidents.catalogue import load_catalogue
    from incidents.models import Category, TimeLimit

    if not Category.objects.exists():
        load_catalogue(Category, TimeLimit)
    _city.ensure_history(n_cases)
    ensure_components(n_components)
    segments = lattice_network(side)
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM incidents_case), (SELECT count(*) FROM incidents_case WHERE status "
                    "NOT IN ('closed', 'rejected', 'cancelled', 'merged')), (SELECT count(*) FROM assets_component), "
                    "(SELECT count(*) FROM grids_cell)")
        cases, open_cases, components, cells = cur.fetchone()
    print(f"data: {cases:,} cases ({open_cases:,} open), {components:,} components, {cells:,} cells, "
          f"a water network of {segments:,} segments", flush=True)
    key = token()
    rnd = random.Random(18)
    minx, miny, maxx, maxy = inner_extent()
    # Tiles whose centre falls in the district: random places, the tile that holds each.
    places = [(rnd.uniform(minx, maxx), rnd.uniform(miny, maxy)) for _ in range(requests)]
    net_maxx = minx + (side - 1) * 100 / 111_320 / math.cos(math.radians(miny))
    net_maxy = miny + (side - 1) * 100 / 111_320
    pipe_places = [(rnd.uniform(minx, net_maxx), rnd.uniform(miny, net_maxy)) for _ in range(requests)]
    statement_times(places, pipe_places, max(requests // 3, 10))
    with _django.gunicorn(2) as server:
        warm = [f"/tiles/{layer}/{z}/{x}/{y}.pbf" for layer in ("cells", "cases", "components")
                for z in ZOOMS for x, y in [tile_of(*places[0], z)]]
        _django.timed_gets(server.port, key, warm * 2)  # both workers
        print("per tile (HTTP, 2 workers, 4 clients; bytes as sent, uncompressed):", flush=True)
        for layer in ("areas", "cells", "components", "pipes", "cases"):
            for z in ZOOMS:
                where = pipe_places if layer == "pipes" else places
                urls = [f"/tiles/{layer}/{z}/{x}/{y}.pbf" for x, y in (tile_of(lon, lat, z) for lon, lat in where)]
                lat, sizes, _ = _django.timed_gets(server.port, key, urls)
                empty = sum(1 for s in sizes if s == 0)
                print(f"  tile {layer} z{z}: p50 {ms(lat, 0.5):.1f} ms, p95 {ms(lat, 0.95):.1f} ms over {len(lat)} "
                      f"tiles; {sum(sizes) / len(sizes):,.0f} bytes per tile on average, max {max(sizes):,}"
                      f"{f' ({empty} empty)' if empty else ''}", flush=True)

        print(f"per {VIEW_W}×{VIEW_H} view, before (the page's GeoJSON) and after (the view's tiles, 4 connections):",
              flush=True)
        centres = [(rnd.uniform(minx, maxx), rnd.uniform(miny, maxy)) for _ in range(n_views)]
        comparisons = [("cells", 16, "/api/grids/cells/?page_size=2000&zoom=16&bbox={}", True),
                       ("cells", 15, "/api/grids/cells/?page_size=2000&zoom=15&bbox={}", True),
                       ("components", 17, "/api/assets/components/?zoom=17&bbox={}", False),
                       ("components", 18, "/api/assets/components/?zoom=18&bbox={}", False)]
        for layer, z, geojson, paged in comparisons:
            before_t, before_b, after_t, after_b = [], [], [], []
            for lon, lat in centres:
                bbox, tiles = view_at(lon, lat, z)
                box = ",".join(f"{v:.6f}" for v in bbox)
                if paged:
                    t, size = geojson_pages(server.port, key, geojson.format(box))
                else:
                    got, sizes, t = _django.timed_gets(server.port, key, [geojson.format(box)], clients=1)
                    size = sizes[0]
                before_t.append(t)
                before_b.append(size)
                _, sizes, wall = _django.timed_gets(server.port, key,
                                                    [f"/tiles/{layer}/{z}/{x}/{y}.pbf" for z, x, y in tiles])
                after_t.append(wall)
                after_b.append(sum(sizes))
            print(f"  {layer} at zoom {z}: GeoJSON p50 {ms(before_t, 0.5):.0f} ms, p95 {ms(before_t, 0.95):.0f} ms, "
                  f"{sum(before_b) / len(before_b):,.0f} bytes; tiles p50 {ms(after_t, 0.5):.0f} ms, "
                  f"p95 {ms(after_t, 0.95):.0f} ms, {sum(after_b) / len(after_b):,.0f} bytes", flush=True)
        # The console's map: 500 open cases of the list (what it drew before) against a city view of case tiles.
        lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
        from incidents.models import FINAL_STATUSES, Status

        open_list = "/api/cases/?page_size=500&status=" + ",".join(s.value for s in Status if s not in FINAL_STATUSES)
        before, sizes, _ = _django.timed_gets(server.port, key, [open_list] * n_views, clients=1)
        _, tiles = view_at(lon, lat, 12)
        after_t, after_b = [], []
        for _i in range(n_views):
            _, tile_sizes, wall = _django.timed_gets(server.port, key,
                                                     [f"/tiles/cases/{z}/{x}/{y}.pbf" for z, x, y in tiles])
            after_t.append(wall)
            after_b.append(sum(tile_sizes))
        print(f"  open cases, the console's list (500 of {open_cases:,}): p50 {ms(before, 0.5):.0f} ms, "
              f"p95 {ms(before, 0.95):.0f} ms, {sum(sizes) / len(sizes):,.0f} bytes; every open case of a zoom-12 "
              f"view as clustered tiles: p50 {ms(after_t, 0.5):.0f} ms, p95 {ms(after_t, 0.95):.0f} ms, "
              f"{sum(after_b) / len(after_b):,.0f} bytes", flush=True)
    print(f"peak memory (benchmark process): {_django.peak_rss_mb():.0f} MB", flush=True)


if __name__ == "__main__":
    main()
