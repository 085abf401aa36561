"""The demo city's gazetteer. The demo city has no roads of its own (its streets are 街道, areas), so plausible
ones are generated: a lattice of named roads across each urban district's built-up disc (grids.demo.PLANS),
door numbers every 25 m along them — odd on the north or east side, even on the other —, every tenth door a
compound (号院) of buildings (栋), and a few landmarks with their aliases. Deterministic: loading twice gives the
same addresses, and a second load adds nothing."""

import math
import random

from django.contrib.gis.geos import LineString, MultiLineString, Point
from django.db import transaction

from grids.demo import PLANS
from grids.models import Area, Level

from .models import Address, Road
from .writing import NewAddress, locate, road_for, write

# Per district: (east-west roads, north-south roads), west→east and south→north. 人民路 and 建设路 are in both
# districts, as the same names are in real cities: the district named in a query tells them apart.
ROADS = {
    "430302": (("解放路", "雨湖路", "人民路", "建设路"), ("车站路", "韶山路", "中山路", "湖湘路")),
    "430304": (("宝塔路", "书院路", "人民路", "岳塘路"), ("芙蓉路", "建设路", "晓塘路", "板塘路")),
}
ROAD_ALIASES = {"韶山路": ["韶山中路"], "湖湘路": ["湖湘大道"]}
# (road, door number, name, aliases): landmarks at real door numbers of the generated roads.
LANDMARKS = (
    ("韶山路", 31, "湘潭市中心医院", ["市中心医院", "中心医院"]),
    ("车站路", 11, "湘潭火车站", ["湘潭站", "火车站"]),
    ("雨湖路", 45, "雨湖公园", []),
    ("中山路", 20, "步步高广场", ["步步高"]),
    ("人民路", 61, "湘潭市第一中学", ["湘潭一中", "一中"]),
    ("解放路", 8, "湘潭市人民政府", ["市政府"]),
    ("岳塘路", 25, "岳塘区人民医院", []),
    ("芙蓉路", 40, "万达广场", ["湘潭万达"]),
    ("宝塔路", 13, "宝塔公园", []),
    ("晓塘路", 52, "湘潭大学", ["湘大"]),
)
SPACING_M = 25.0
SIDE_OFFSET_M = 12.0
LINE_OFFSETS_M = (-1800.0, -600.0, 600.0, 1800.0)
COMPOUND_EVERY = 10
SEED = 18


def _lonlat(centre: tuple[float, float], dx: float, dy: float) -> tuple[float, float]:
    """A local east/north offset in metres to WGS84 (equirectangular: enough for generated demo roads)."""
    lon0, lat0 = centre
    return lon0 + dx / (111_320.0 * math.cos(math.radians(lat0))), lat0 + dy / 110_574.0


def _road_points(plan, horizontal: bool, offset: float):
    """Door positions along one road: (number, lon, lat) for both sides, and the road's line."""
    half = math.sqrt(max(plan.radius_m ** 2 - offset ** 2, 0)) - 100
    steps = int(2 * half // SPACING_M)
    doors = []
    for k in range(steps + 1):
        along = -half + k * SPACING_M
        for side, number in ((1, 2 * k + 1), (-1, 2 * k + 2)):  # odd on the north/east side
            if horizontal:
                dx, dy = along, offset + side * SIDE_OFFSET_M
            else:
                dx, dy = offset + side * SIDE_OFFSET_M, along
            doors.append((number, *_lonlat(plan.centre, dx, dy)))
    ends = [(-half, offset), (half, offset)] if horizontal else [(offset, -half), (offset, half)]
    line = LineString([_lonlat(plan.centre, x, y) for x, y in ends], srid=4326)
    return doors, MultiLineString(line, srid=4326)


def _lines(geom) -> MultiLineString | None:
    """The line parts of a clipped road, as one MultiLineString (None when nothing is left)."""
    parts = [g for g in (geom if geom.geom_type.startswith(("Multi", "GeometryCollection")) else [geom])
             if g.geom_type == "LineString" and not g.empty]
    return MultiLineString(*parts, srid=4326) if parts else None


@transaction.atomic
def load_addresses() -> dict[str, int]:
    """Generate the demo gazetteer (nothing when it is there already); returns counts."""
    if Address.objects.filter(source="demo").exists():
        return {}
    rnd = random.Random(SEED)
    landmarks = {(road, number): (name, aliases) for road, number, name, aliases in LANDMARKS}
    rows: list[NewAddress] = []
    lines: dict[tuple[str, str], MultiLineString] = {}
    for plan in PLANS:
        east_west, north_south = ROADS[plan.code]
        for names, horizontal in ((east_west, True), (north_south, False)):
            for name, offset in zip(names, LINE_OFFSETS_M, strict=True):
                doors, line = _road_points(plan, horizontal, offset)
                lines[(plan.code, name)] = line
                for number, lon, lat in doors:
                    code = f"{plan.code}-{name}-{number}"
                    point = Point(lon, lat, srid=4326)
                    rows.append(NewAddress(code, "door", name, str(number), "", "", [], point, "demo"))
                    if number % COMPOUND_EVERY == 0 and (name, number) not in landmarks:
                        # A compound (号院) behind the door: buildings 1…n, 30–80 m in.
                        for b in range(1, rnd.randint(2, 6) + 1):
                            dx, dy = rnd.uniform(-0.0004, 0.0004), rnd.uniform(-0.0004, 0.0004)
                            rows.append(NewAddress(f"{code}-{b}", "building", name, str(number), f"{b}栋", "",
                                                   [], Point(lon + dx, lat + dy, srid=4326), "demo"))
    # A district's built-up disc reaches over its boundary: its roads and doors stop at it (a door beyond would
    # be another district's 解放路 — a road that district does not have, picked at the hotline desk and placed
    # in the wrong district).
    districts = {a.code: a for a in Area.objects.current().filter(level=Level.DISTRICT,
                                                                 code__in=[plan.code for plan in PLANS])}
    def in_own_district(candidates: list[NewAddress]) -> list[NewAddress]:
        inside = locate(candidates, [r.point for r in candidates])
        return [r for r, ok in zip(candidates, inside, strict=True)
                if ok and r.code[:6] in districts and r.located["district"] == districts[r.code[:6]].pk]

    rows = in_own_district(rows)
    # Each landmark beside the door of its number on the first road of that name, or the nearest door kept.
    pois = []
    for (name, number), (poi, aliases) in landmarks.items():
        doors = [r for r in rows if r.kind == "door" and r.road == name]
        first = [r for r in doors if r.code[:6] == doors[0].code[:6]] if doors else []
        if first:
            door = min(first, key=lambda r: (abs(int(r.number) - number), int(r.number)))
            pois.append(NewAddress(f"{door.code}-poi", "poi", name, door.number, "", poi, aliases,
                                   Point(door.point.x + 0.0002, door.point.y + 0.0001, srid=4326), "demo"))
    rows += in_own_district(pois)
    cache: dict = {}
    for (district_code, name), line in lines.items():
        district = districts.get(district_code)
        if district is None or not any(r.road == name and r.code.startswith(district_code) for r in rows):
            continue
        within = _lines(line.intersection(district.geom))
        road = road_for(name, district.pk, cache, ROAD_ALIASES.get(name), within)
        if road.geom is None:
            Road.objects.filter(pk=road.pk).update(geom=within)
    created, _ = write(rows)
    from citygrid.dbroles import analyze

    analyze("gazetteer_road", "gazetteer_address")
    kinds = {k: sum(1 for r in rows if r.kind == k) for k in ("door", "building", "poi")}
    return {"roads": Road.objects.count(), "door numbers": kinds["door"], "buildings": kinds["building"],
            "landmarks": kinds["poi"]}
