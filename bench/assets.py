"""The census and the pipe networks at a city's size (issue 15).

In the benchmarks' city (bench/_city.py: one district of about 104,000 cells, 32 km across), times
  - importing a census of 1,000,000 components from a GIS file (GeoJSON sequence, WGS84) through the product's
    all-or-nothing importer (read, checked, located, written with its history): components/s;
  - the nearest components of a subclass around a point over HTTP (gunicorn, 2 workers, 4 clients, a city
    dispatcher's token): p50/p95 — target p95 ≤ 10 ms;
  - the components of a 1600×900 map view at zoom 17 over HTTP: p50/p95 and features per view — target p95 ≤ 150 ms;
  - on a water network of about 100,000 segments (the street lattice, valves on three streets in four, built by
    assets.building): valve isolation of a burst (pgRouting) over HTTP p50/p95 — target ≤ 500 ms — and "what is
    under here" (5 m) over HTTP p50/p95 — target ≤ 50 ms.

--smoke: 4 communities, 5,000 components, a network of about 1,300 segments, 100 requests each, in the smoke
database (bench/_django.py): run by `make test` (tests/test_bench_smoke.py).

Usage: python bench/assets.py [--components 1000000] [--lattice 170] [--requests 1000] [--smoke]
"""

import argparse
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _city  # noqa: E402
import _django  # noqa: E402

SUBCLASSES = ("BJ0101", "BJ0102", "BJ0103", "BJ0104", "BJ0109", "BJ0302", "BJ0402", "BJ0108", "BJ0106", "BJ0202")
M = 1 / 111_320


def inner_extent() -> tuple[float, float, float, float]:
    """The district's box less a 3 % margin: every point in it lies in the district."""
    minx, miny, maxx, maxy = _city.district_extent()
    dx, dy = (maxx - minx) * 0.03, (maxy - miny) * 0.03
    return minx + dx, miny + dy, maxx - dx, maxy - dy


def census_file(n: int, folder: Path) -> Path:
    minx, miny, maxx, maxy = inner_extent()
    rnd = random.Random(15)
    seq = dict.fromkeys(SUBCLASSES, 0)
    path = folder / "census.geojsonl"
    with open(path, "w", encoding="utf-8") as out:
        for _ in range(n):
            subclass = rnd.choice(SUBCLASSES)
            seq[subclass] += 1
            code = f"{_city.DISTRICT_CODE}{subclass[2:4]}{subclass[4:6]}{seq[subclass]:06d}"
            out.write(json.dumps({"type": "Feature", "geometry": {"type": "Point", "coordinates": [
                round(rnd.uniform(minx, maxx), 7), round(rnd.uniform(miny, maxy), 7)]},
                "properties": {"code": code, "subclass": subclass, "status": "完好", "accuracy": "A"}}) + "\n")
    return path


def bench_import(n: int) -> None:
    from assets.importing import import_components
    from assets.models import Component

    if Component.objects.filter(code__startswith=_city.DISTRICT_CODE).count() >= n:
        print(f"census: {n:,} components already imported (not timed again: drop the database to time it)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        path = census_file(n, Path(tmp))
        written = time.perf_counter() - t
        t = time.perf_counter()
        report = import_components(path)
        elapsed = time.perf_counter() - t
    from citygrid.dbroles import analyze

    analyze("assets_component", "assets_componentlog")
    print(f"census import: {report.created:,} components in {elapsed:.1f} s, {report.created / elapsed:,.0f} "
          f"components/s (file of {n:,} written in {written:.1f} s)", flush=True)


def lattice_network(n: int) -> int:
    """A water network on an n × n street lattice at 100 m, valves at the middle of three streets in four."""
    from assets.building import build_network
    from assets.models import PipeNetwork, PipeSegment

    net = PipeNetwork.objects.filter(code="BENCH-GS").first()
    if net is not None:
        return PipeSegment.objects.filter(network=net).count()
    t = time.perf_counter()
    minx, miny, _maxx, _maxy = inner_extent()
    lat0 = miny
    dx, dy = 100 * M / math.cos(math.radians(lat0)), 100 * M
    rnd = random.Random(16)
    points = [(f"B-J{i}-{j}", "junction", minx + i * dx, miny + j * dy) for i in range(n) for j in range(n)]
    segments = []
    for i in range(n):
        for j in range(n):
            for di, dj in ((1, 0), (0, 1)):
                if i + di >= n or j + dj >= n:
                    continue
                a, b = f"B-J{i}-{j}", f"B-J{i + di}-{j + dj}"
                name = f"B-{i}-{j}-{'e' if di else 'n'}"
                if rnd.random() < 0.75:
                    valve = f"B-V{i}-{j}-{'e' if di else 'n'}"
                    points.append((valve, "valve", minx + (i + di / 2) * dx, miny + (j + dj / 2) * dy))
                    segments += [(name + "a", a, valve, rnd.randint(0, 15)), (name + "b", valve, b, rnd.randint(0, 15))]
                else:
                    segments.append((name, a, b, rnd.randint(0, 30)))
    net = PipeNetwork.objects.create(code="BENCH-GS", name="基准给水管网", kind="water", owner="基准自来水公司")
    build_network(net, points, segments, {"material": "球墨铸铁", "diameter_mm": 200, "depth_start_m": 1.2,
                                          "depth_end_m": 1.5})
    from citygrid.dbroles import analyze

    analyze("assets_pipepoint", "assets_pipesegment")
    print(f"water network: {len(segments):,} segments, {len(points):,} points built in {time.perf_counter() - t:.0f} s",
          flush=True)
    return len(segments)


def token() -> str:
    from django.contrib.auth.models import Group, User

    from citygrid import roles
    from citygrid.models import ApiToken, StaffProfile

    user, _ = User.objects.get_or_create(username="bench_assets")
    user.groups.add(Group.objects.get_or_create(name=roles.DISPATCHER)[0])
    StaffProfile.objects.get_or_create(user=user)
    return ApiToken.issue(user, "bench", days=1)[1]


def items(body: bytes) -> int:
    """How many items an answer holds (features, results, valves or segments)."""
    data = json.loads(body)
    return len(data.get("features") or data.get("results") or data.get("valves") or data.get("segments") or [])


def timed_gets(port: int, key: str, urls: list[str], clients: int = 4) -> tuple[list[float], list[int]]:
    """GET every URL from `clients` threads; latencies (s) and sizes (items)."""
    lat, sizes, _wall = _django.timed_gets(port, key, urls, clients, measure=items)
    return lat, sizes


def report(label: str, lat: list[float], sizes: list[int], unit: str) -> None:
    p50, p95 = _django.percentile(lat, 0.5) * 1000, _django.percentile(lat, 0.95) * 1000
    print(f"{label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(lat)} requests; "
          f"{sum(sizes) / max(len(sizes), 1):.1f} {unit} on average", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--components", type=int)
    parser.add_argument("--lattice", type=int, help="street lattice side (nodes); 170 gives about 100,000 segments")
    parser.add_argument("--requests", type=int)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    n = args.components or (5000 if args.smoke else 1_000_000)
    side = args.lattice or (20 if args.smoke else 170)
    requests = args.requests or (100 if args.smoke else 1000)
    _django.setup(smoke=args.smoke)
    _city.build_grid(args.smoke)
    from incidents.catalogue import load_catalogue
    from incidents.models import Category, TimeLimit

    if not Category.objects.exists():
        load_catalogue(Category, TimeLimit)
    bench_import(n)
    segments = lattice_network(side)
    key = token()
    rnd = random.Random(17)
    minx, miny, maxx, maxy = inner_extent()
    # A 1600 × 900 px view at zoom 17 (256 px tiles): degrees per pixel 360 / 256 / 2^17, latitude scaled.
    per_px = 360 / 256 / 2 ** 17
    views, nearest = [], []
    for _ in range(requests):
        lon, lat = rnd.uniform(minx, maxx), rnd.uniform(miny, maxy)
        w, h = 1600 * per_px, 900 * per_px * math.cos(math.radians(lat))
        views.append(f"/api/assets/components/?zoom=17&bbox={lon - w / 2:.6f},{lat - h / 2:.6f},"
                     f"{lon + w / 2:.6f},{lat + h / 2:.6f}")
        nearest.append(f"/api/assets/components/nearest?lon={lon:.7f}&lat={lat:.7f}"
                       f"&subclass={rnd.choice(SUBCLASSES)}&radius=50")
    from assets.models import PipeSegment

    codes = list(PipeSegment.objects.filter(network__code="BENCH-GS").values_list("code", flat=True))
    bursts = [f"/api/assets/pipes/segments/{rnd.choice(codes)}/isolation" for _ in range(max(requests // 5, 20))]
    net_max_x = minx + (side - 1) * 100 * M / math.cos(math.radians(miny))
    net_max_y = miny + (side - 1) * 100 * M
    under = [f"/api/assets/pipes/under?radius=5&lon={rnd.uniform(minx, net_max_x):.7f}"
             f"&lat={rnd.uniform(miny, net_max_y):.7f}" for _ in range(requests)]
    with _django.gunicorn(2) as server:
        timed_gets(server.port, key, nearest[:20] + views[:10] + bursts[:3] + under[:20])  # warm both workers
        report("nearest of a subclass within 50 m (HTTP, 2 workers, 4 clients)",
               *timed_gets(server.port, key, nearest), "components")
        report("map view 1600×900 at zoom 17 (HTTP, 2 workers, 4 clients)", *timed_gets(server.port, key, views),
               "features")
        report(f"valve isolation on {segments:,} segments (HTTP, 2 workers, 2 clients)",
               *timed_gets(server.port, key, bursts, clients=2), "valves")
        report("what is under here, 5 m (HTTP, 2 workers, 4 clients)", *timed_gets(server.port, key, under),
               "segments")
    print(f"peak memory (benchmark process): {_django.peak_rss_mb():.0f} MB", flush=True)


if __name__ == "__main__":
    main()
