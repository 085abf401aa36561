"""The demo city: real Xiangtan district boundaries, generated streets, communities and cells.

Streets, communities and cells are cut deterministically (fixed seeds), so loading twice gives the same
city. Around each urban district's centre a disc of urban streets is divided into communities and cells;
the rest of the district is a ring of rural towns and villages, without cells (as in practice, where the
digital city-management grid covers the built-up area first).
"""

import random
from dataclasses import dataclass
from pathlib import Path

import shapely
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.db import transaction
from shapely.geometry import MultiPoint, Point
from shapely.geometry.base import BaseGeometry
from shapely.prepared import prep

from . import codes
from .generation import analyze_grid_tables, generate_cells
from .importing import import_areas
from .models import Area, Bureau, Cell, Level
from .projection import STORAGE_SRID, metric_srid_for, transformed

DATA_FILE = Path(__file__).parent / "data" / "xiangtan-districts-gcj02.geojson"
CITY_CODE = "430300"


@dataclass(frozen=True)
class DistrictPlan:
    code: str
    centre: tuple[float, float]  # WGS84 lon/lat of the built-up centre
    radius_m: float
    urban_streets: tuple[str, ...]
    rural_towns: tuple[str, ...]


PLANS = (
    DistrictPlan("430302", (112.905, 27.868), 2600,
                 ("城正街街道", "雨湖路街道", "云塘街道", "广场街道", "窑湾街道", "先锋街道"),
                 ("长城乡", "姜畲镇", "鹤岭镇", "楠竹山镇")),
    DistrictPlan("430304", (112.962, 27.850), 2600,
                 ("岳塘街道", "五里堆街道", "东坪街道", "书院路街道", "建设路街道", "宝塔街道"),
                 ("荷塘街道", "霞城街道", "双马街道", "昭山镇")),
)

COMMUNITY_NAMES = (
    "和平", "建设", "工农", "解放", "友谊", "向阳", "光明", "民主", "胜利", "中山", "联城", "风车坪", "韶山西",
    "曙光", "东风", "红旗", "湖湘", "莲城", "白石", "平政", "熙春", "杨梅洲", "金桂", "板塘", "金湖", "芙蓉",
    "霞光", "滴水", "宝庆", "书香", "晓塘", "九华", "桃源", "鹤岭", "云湖", "青山", "荷花", "红星", "育才",
    "湘江", "学坪", "菜园", "新建", "桂花", "竹山", "梨园", "八角", "万楼", "东湖", "观湘", "盘龙", "望江",
    "钢城", "江麓", "电机", "岳塘", "五里堆", "车站", "湘钢", "凤凰", "双拥", "利民", "幸福", "锦绣",
)
VILLAGE_NAMES = (
    "桃花", "石塘", "枫林", "花桥", "新桥", "湖塘", "龙井", "杨柳", "荷叶", "樟树", "金星", "长塘", "泉塘",
    "白沙", "双江", "响塘", "黄荆", "茶园", "田心", "大坪", "高峰", "团山", "清水", "马家", "柏树", "仙女",
)
COMMUNITIES_PER_URBAN_STREET = 5
VILLAGES_PER_TOWN = 3

CITY_BUREAUS = (
    ("CG", "湘潭市城市管理和综合执法局", Bureau.Kind.CITY_MANAGEMENT, "0731-55580001"),
    ("ZJ", "湘潭市住房和城乡建设局", Bureau.Kind.HOUSING, "0731-55580002"),
    ("JT", "湘潭市交通运输局", Bureau.Kind.TRANSPORT, "0731-55580003"),
    ("HB", "湘潭市生态环境局", Bureau.Kind.ENVIRONMENT, "0731-55580004"),
    ("SW", "湘潭市水务局", Bureau.Kind.WATER, "0731-55580005"),
    ("GD", "国网湘潭供电公司", Bureau.Kind.POWER, "95598"),
    ("RQ", "湘潭新奥燃气有限公司", Bureau.Kind.GAS, "0731-55580007"),
    ("YL", "湘潭市园林绿化中心", Bureau.Kind.LANDSCAPE, "0731-55580008"),
    ("TX", "中国电信湘潭分公司", Bureau.Kind.TELECOM, "10000"),
    ("JJ", "湘潭市公安局交通警察支队", Bureau.Kind.POLICE, "0731-55580010"),
    ("XF", "湘潭市消防救援支队", Bureau.Kind.FIRE, "119"),
    ("ZR", "湘潭市自然资源和规划局", Bureau.Kind.NATURAL_RESOURCES, "0731-55580012"),
    ("SJ", "湘潭市市场监督管理局", Bureau.Kind.MARKET, "0731-55580013"),
)


def _to_metric(geom: GEOSGeometry, srid: int) -> BaseGeometry:
    return shapely.from_wkb(bytes(transformed(geom, srid).wkb))


def _clip_to(parent: Area, shape: BaseGeometry, srid: int) -> MultiPolygon | None:
    """The part of `parent` inside a metric `shape`, cut in WGS84 so that siblings tile the parent exactly."""
    region = transformed(GEOSGeometry(memoryview(shapely.to_wkb(shape)), srid=srid), STORAGE_SRID)
    cut = parent.geom.intersection(region)
    polys = [g for g in (cut if cut.geom_type in ("MultiPolygon", "GeometryCollection") else [cut])
             if g.geom_type == "Polygon" and g.area > 0]
    return MultiPolygon(*polys, srid=STORAGE_SRID) if polys else None


def _seeds_inside(area: BaseGeometry, count: int, rnd: random.Random) -> list[Point]:
    """`count` seeds spread over `area`: the best of a few random candidates each (farthest from the rest)."""
    minx, miny, maxx, maxy = area.bounds
    prepared = prep(area)
    seeds: list[Point] = []
    while len(seeds) < count:
        candidates = []
        while len(candidates) < 12:
            p = Point(rnd.uniform(minx, maxx), rnd.uniform(miny, maxy))
            if prepared.contains(p):
                candidates.append(p)
        seeds.append(max(candidates, key=lambda c: min((c.distance(s) for s in seeds), default=0.0)))
    return seeds


def _voronoi(area: BaseGeometry, seeds: list[Point]) -> list[BaseGeometry]:
    """Voronoi regions of the seeds, in seed order, covering the area (they tile the plane around it)."""
    regions = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=area.envelope.buffer(1000), ordered=True)
    return list(regions.geoms)


def _save_children(parent: Area, level: int, names: list[str], shapes: list[BaseGeometry],
                   srid: int) -> list[Area]:
    """Save the parts of `parent` inside each shape as its children, numbered in order."""
    children = []
    seq = 0
    for name, shape in zip(names, shapes, strict=True):
        seq += 1
        code = codes.child_code(parent.code, level, seq)
        area = Area.objects.filter(code=code).first()
        if area is None:
            geom = _clip_to(parent, shape, srid)
            if geom is None:
                seq -= 1
                continue
            area = Area(level=level, code=code, name=name, parent=parent, geom=geom)
            area.save()
        children.append(area)
    return children


def load_bureaus(districts: list[Area]) -> dict[str, Bureau]:
    bureaus = {}
    for suffix, name, kind, phone in CITY_BUREAUS:
        bureaus[suffix], _ = Bureau.objects.update_or_create(
            code=f"{CITY_CODE}-{suffix}", defaults={"name": name, "kind": kind, "contact_phone": phone})
    for district in districts:
        bureau, _ = Bureau.objects.update_or_create(
            code=f"{district.code}-CG",
            defaults={"name": f"{district.name}城市管理和综合执法局", "kind": Bureau.Kind.CITY_MANAGEMENT,
                      "district": district})
        district.bureaus.add(bureau)
        bureaus[district.code] = bureau
    return bureaus


def _load_boundaries() -> None:
    if not Area.objects.filter(code=CITY_CODE).exists():
        import_areas(DATA_FILE, "city", code_field="adcode", from_gcj02=True, where={"level": "city"})
    existing = set(Area.objects.filter(level=Level.DISTRICT).values_list("code", flat=True))
    if not existing:
        import_areas(DATA_FILE, "district", code_field="adcode", from_gcj02=True, where={"level": "district"})


def _build_district(plan: DistrictPlan, name_pool: list[str], village_pool: list[str]) -> list[Area]:
    """Streets and communities of one district; returns its urban communities (the ones to grid)."""
    district = Area.objects.get(code=plan.code)
    srid = metric_srid_for(plan.centre[0])
    rnd = random.Random(int(plan.code))
    whole = _to_metric(district.geom, srid)
    centre = _to_metric(GEOSGeometry(f"SRID=4326;POINT({plan.centre[0]} {plan.centre[1]})"), srid)
    urban = whole.intersection(centre.buffer(plan.radius_m, quad_segs=32))  # where the seeds go
    rural = whole.difference(urban)

    disc = centre.buffer(plan.radius_m, quad_segs=32)
    urban_shapes = [r.intersection(disc) for r in _voronoi(urban, _seeds_inside(urban, len(plan.urban_streets), rnd))]
    rural_shapes = [r.difference(disc) for r in _voronoi(rural, _seeds_inside(rural, len(plan.rural_towns), rnd))]
    streets = _save_children(district, Level.STREET, [*plan.urban_streets, *plan.rural_towns],
                             [*urban_shapes, *rural_shapes], srid)
    urban_communities = []
    for street in streets:
        is_urban = street.name in plan.urban_streets
        count = COMMUNITIES_PER_URBAN_STREET if is_urban else VILLAGES_PER_TOWN
        pool, suffix = (name_pool, "社区") if is_urban else (village_pool, "村")
        names = [pool.pop(0) + suffix for _ in range(count)]
        shape = _to_metric(street.geom, srid)
        communities = _save_children(street, Level.COMMUNITY, names,
                                     _voronoi(shape, _seeds_inside(shape, count, rnd)), srid)
        if is_urban:
            urban_communities.extend(communities)
    return urban_communities


@transaction.atomic
def load_demo_city(cell_size: float = 100.0) -> dict[str, int]:
    """Build (or complete) the demo city; returns counts of what it holds."""
    _load_boundaries()
    districts = list(Area.objects.filter(level=Level.DISTRICT).order_by("code"))
    bureaus = load_bureaus(districts)
    name_pool, village_pool = list(COMMUNITY_NAMES), list(VILLAGE_NAMES)
    for plan in PLANS:
        for community in _build_district(plan, name_pool, village_pool):
            generate_cells(community, size=cell_size)
    for street in Area.objects.filter(level=Level.STREET, parent__code__in=[p.code for p in PLANS]):
        office, _ = Bureau.objects.update_or_create(
            code=f"{street.code}-JD", defaults={"name": f"{street.name}办事处", "kind": Bureau.Kind.STREET_OFFICE,
                                                 "district": street.parent})
        street.bureaus.add(office)
    Area.objects.get(code=CITY_CODE).bureaus.add(*(b for b in bureaus.values() if b.district_id is None))
    analyze_grid_tables()
    return {
        "districts": len(districts),
        "streets": Area.objects.filter(level=Level.STREET).count(),
        "communities": Area.objects.filter(level=Level.COMMUNITY).count(),
        "cells": Cell.objects.count(),
        "bureaus": Bureau.objects.count(),
    }
