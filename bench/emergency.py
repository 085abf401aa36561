"""The incident board's data (GET /api/emergency/incidents/{number}/board/) with many cases in the incident's area
and many units around it, over HTTP (gunicorn, 2 workers, 4 clients, a city dispatcher's token): p50/p95 —
target p95 ≤ 300 ms with 10,000 cases in the area and 1,000 units. The incident has its plan activated (tasks),
resources around it and a timeline; its area is the generated district, so every generated case is in it.

--smoke: 4 communities (about 3,400 cells), 1,000 cases, 100 units, 20 requests, in the smoke database
(bench/_django.py): a few seconds, run by tests/test_bench_smoke.py.

Usage: python bench/emergency.py [--cases 10000] [--units 1000] [--requests 200] [--smoke]
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


def dispatcher_token() -> tuple[object, str]:
    from django.contrib.auth.models import Group, User

    from citygrid import roles
    from citygrid.models import ApiToken, StaffProfile

    user, _ = User.objects.get_or_create(username="bench_emergency")
    user.groups.add(Group.objects.get_or_create(name=roles.DISPATCHER)[0])
    StaffProfile.objects.get_or_create(user=user)
    return user, ApiToken.issue(user, "bench", days=1)[1]


def ensure_units(n: int) -> int:
    from django.contrib.gis.geos import Point
    from django.utils import timezone

    from dispatch.models import ResponseUnit
    from grids.models import Bureau

    have = ResponseUnit.objects.filter(code__startswith="EU").count()
    if have >= n:
        return have
    minx, miny, maxx, maxy = _city.district_extent()
    bureaus = list(Bureau.objects.values_list("pk", flat=True))
    rnd = random.Random(17)
    now = timezone.now()
    ResponseUnit.objects.bulk_create([
        ResponseUnit(code=f"EU{i:05d}", name=f"应急单元{i}", bureau_id=rnd.choice(bureaus), state="available",
                     position=Point(rnd.uniform(minx, maxx), rnd.uniform(miny, maxy), srid=4326),
                     position_at=now - timedelta(seconds=rnd.uniform(0, 600))) for i in range(have, n)],
        batch_size=2000)
    from citygrid.dbroles import analyze

    analyze("dispatch_responseunit")
    return n


def ensure_incident(user) -> str:
    """One open flood incident over the whole district, its plan activated, resources placed around."""
    from django.contrib.gis.geos import Point

    from emergency import command
    from emergency.catalogue import load_event_types
    from emergency.models import EventType, Headquarters, Incident, Plan, PlanTask, Resource
    from grids.models import Area, Bureau

    existing = Incident.objects.filter(title="基准防汛事件").first()
    if existing:
        return existing.number
    load_event_types()
    district = Area.objects.get(code=_city.DISTRICT_CODE)
    bureaus = list(Bureau.objects.all()[:6])
    hq = Headquarters.objects.create(code="bench-flood", name="基准防汛指挥部")
    hq.bureaus.set(bureaus)
    plan = Plan.objects.create(code="bench-flood", name="基准防汛预案", event_type=EventType.objects.get(code="flood"),
                               headquarters=hq)
    for i, b in enumerate(bureaus):
        PlanTask.objects.create(plan=plan, kind="drainage", title=f"任务{i + 1}", bureau=b, limit_minutes=30 + 15 * i)
    minx, miny, maxx, maxy = district.geom.extent
    rnd = random.Random(3)
    for i in range(60):
        Resource.objects.create(code=f"BR{i:03d}", kind=("shelter", "stockpile", "team", "expert")[i % 4],
                                name=f"基准资源{i}", bureau=rnd.choice(bureaus),
                                location=Point(rnd.uniform(minx, maxx), rnd.uniform(miny, maxy), srid=4326))
    incident = command.open_incident(user, title="基准防汛事件", event_type=plan.event_type, level=2,
                                     area=district.geom)
    command.activate_plan(user, incident, plan)
    for r in Resource.objects.filter(code__startswith="BR")[:10]:
        command.mobilise(user, incident, r, "基准调用")
    return incident.number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int)
    parser.add_argument("--units", type=int)
    parser.add_argument("--requests", type=int)
    parser.add_argument("--smoke", action="store_true", help="a small grid, few cases, units and requests")
    args = parser.parse_args()
    cases = args.cases or (1000 if args.smoke else 10_000)
    units = args.units or (100 if args.smoke else 1000)
    requests = args.requests or (20 if args.smoke else 200)
    _django.setup(smoke=args.smoke)
    _city.build_grid(args.smoke)
    _city.ensure_history(cases)
    user, key = dispatcher_token()
    ensure_units(units)
    number = ensure_incident(user)
    from emergency.board import board, to_json
    from emergency.models import Incident

    incident = Incident.objects.get(number=number)
    t = time.perf_counter()
    data = board(user, incident)
    in_process = (time.perf_counter() - t) * 1000
    size = len(to_json(data))
    print(f"incident {number}: {data['cases']['count']:,} cases in the area, {len(data['units']):,} units, "
          f"{len(data['resources'])} resources, {len(data['tasks'])} tasks, {len(data['timeline'])} log entries; "
          f"{size / 1024:,.0f} KiB of JSON; in process {in_process:.0f} ms", flush=True)
    url = f"/api/emergency/incidents/{number}/board/"
    with _django.gunicorn(2) as server:
        _django.timed_gets(server.port, key, [url] * 4)  # warm both workers
        lat, _sizes, _wall = _django.timed_gets(server.port, key, [url] * requests)
        alone, _sizes, _wall = _django.timed_gets(server.port, key, [url] * max(requests // 4, 5), clients=1)
    p50, p95 = _django.percentile(lat, 0.5) * 1000, _django.percentile(lat, 0.95) * 1000
    print(f"incident board data (HTTP, 2 workers, 4 clients): p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(lat)} "
          f"requests, {len(lat) / sum(lat) * 4:.1f} requests/s", flush=True)
    p50, p95 = _django.percentile(alone, 0.5) * 1000, _django.percentile(alone, 0.95) * 1000
    print(f"incident board data (HTTP, one client at a time): p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(alone)} "
          f"requests", flush=True)
    print(f"peak memory (benchmark process): {_django.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
