"""The demo city's census and pipe networks, generated over its built-up cells (the urban streets of
grids.demo.PLANS): components in the proportions urban censuses report per hectare, and a water and a sewer
network along the cells' edges (the street lattice), with valves and hydrants, flowing to an outlet. Written in
a few statements so that load_demo stays fast; bench/assets.py builds the big ones."""

import random

from django.db import connection, transaction

from grids.demo import CITY_CODE, PLANS
from grids.models import Bureau, Cell

from .building import build_network
from .models import Component, PipeNetwork

# Per built-up cell (about a hectare): how many of each subclass a census finds, on average (e.g. ~1,000 manhole
# covers per km²: 10 per hectare across the kinds).
PER_CELL = {"BJ0101": 2.0, "BJ0102": 2.0, "BJ0103": 2.0, "BJ0104": 3.0, "BJ0105": 0.8, "BJ0106": 1.0,
            "BJ0107": 0.6, "BJ0108": 0.6, "BJ0109": 3.0, "BJ0110": 0.3, "BJ0111": 0.3, "BJ0201": 0.2,
            "BJ0202": 1.0, "BJ0203": 0.2, "BJ0204": 0.5, "BJ0301": 0.1, "BJ0302": 2.0, "BJ0304": 1.0,
            "BJ0402": 6.0, "BJ0404": 0.5, "BJ0501": 0.3, "BJ0603": 0.1}
# Who is in charge of a subclass, by the catalogue's default bureau kind: the district's urban-management bureau
# for its own kind, else the city's bureau of that kind.
_CITY_BUREAU_OF_KIND = {"water": "SW", "power": "GD", "gas": "RQ", "telecom": "TX", "fire": "XF",
                        "transport": "JT", "police": "JJ", "landscape": "YL", "housing": "ZJ", "environment": "HB",
                        "street_office": "CG"}

_CENSUS_SQL = """
WITH built AS (
    SELECT c.id, c.geom, c.community_id, c.street_id, c.district_id, d.code AS county
    FROM grids_cell c JOIN grids_area s ON s.id = c.street_id JOIN grids_area d ON d.id = c.district_id
    WHERE s.name = ANY(%(streets)s)
),
wanted AS (
    SELECT b.*, w.subclass, w.bureau_id,
           floor(w.per_cell + random())::int AS n  -- the expected count, randomly rounded
    FROM built b CROSS JOIN unnest(%(subclasses)s::text[], %(rates)s::float8[], %(bureaus)s::int[])
         AS w(subclass, per_cell, bureau_id)
),
points AS (
    SELECT w.*, (ST_Dump(ST_GeneratePoints(w.geom, w.n))).geom AS g
    FROM wanted w WHERE w.n > 0
),
numbered AS (
    SELECT p.*, row_number() OVER (PARTITION BY p.county, p.subclass ORDER BY p.id, ST_X(p.g)) AS seq,
           random() AS r
    FROM points p
)
INSERT INTO assets_component (code, subclass, name, geom, bureau_id, owner, maintainer, status, accuracy,
                              survey_date, photo, cell_id, community_id, street_id, district_id, created_at,
                              updated_at)
SELECT n.county || substr(n.subclass, 3, 2) || substr(n.subclass, 5, 2) || lpad(n.seq::text, 6, '0'),
       n.subclass, '', ST_SetSRID(n.g, 4326), n.bureau_id, '', '',
       CASE WHEN n.r < 0.92 THEN 'good' WHEN n.r < 0.97 THEN 'damaged' WHEN n.r < 0.99 THEN 'occupied'
            ELSE 'missing' END,
       CASE WHEN n.r * 10 - floor(n.r * 10) < 0.7 THEN 'A' ELSE 'B' END,
       DATE '2026-03-01' + (n.seq %% 60)::int, '', n.id, n.community_id, n.street_id, n.district_id, now(), now()
FROM numbered n
"""


def _urban_streets() -> list[str]:
    return [name for plan in PLANS for name in plan.urban_streets]


def _bureau_ids() -> dict[str, int | None]:
    """Subclass → bureau in charge (a city bureau by the catalogue's kind; urban management: the city's)."""
    from django.apps import apps

    category = apps.get_model("incidents", "Category")
    kinds = dict(category.objects.filter(code__in=list(PER_CELL)).values_list("code", "default_bureau_kind"))
    by_code = dict(Bureau.objects.filter(code__startswith=f"{CITY_CODE}-").values_list("code", "pk"))
    out = {}
    for subclass in PER_CELL:
        suffix = _CITY_BUREAU_OF_KIND.get(kinds.get(subclass, ""), "CG")
        out[subclass] = by_code.get(f"{CITY_CODE}-{suffix}")
    return out


@transaction.atomic
def load_census(seed: int = 15) -> int:
    """The generated census (once: nothing is added when the demo city already has components)."""
    if Component.objects.exists():
        return 0
    bureaus = _bureau_ids()
    subclasses = list(PER_CELL)
    with connection.cursor() as cur:
        cur.execute("SELECT setseed(%s)", [seed / 100])
        cur.execute(_CENSUS_SQL, {"streets": _urban_streets(), "subclasses": subclasses,
                                  "rates": [PER_CELL[s] for s in subclasses],
                                  "bureaus": [bureaus[s] for s in subclasses]})
        made = cur.rowcount
        # The census itself is the first entry of every component's history.
        cur.execute("""INSERT INTO assets_componentlog (component_id, action, changes, note, created_at)
                       SELECT id, 'import', '{}'::jsonb, 'demo census', now() FROM assets_component""")
    from citygrid.dbroles import analyze

    analyze("assets_component", "assets_componentlog")
    return made


def _lattice(cells) -> tuple[dict[tuple, int], set[tuple[int, int]]]:
    """The corners of whole (unclipped, square) cells as nodes and their sides as edges: the streets."""
    nodes: dict[tuple, int] = {}
    edges: set[tuple[int, int]] = set()
    for geom in cells:
        ring = geom[0][0].coords if geom.geom_type == "MultiPolygon" else geom[0].coords
        if len(ring) != 5:
            continue  # a cell clipped by its community's boundary: no street lattice there
        ids = []
        for x, y in ring[:4]:
            key = (round(x, 6), round(y, 6))
            ids.append(nodes.setdefault(key, len(nodes)))
        for a, b in zip(ids, ids[1:] + ids[:1], strict=True):
            edges.add((min(a, b), max(a, b)))
    return nodes, edges


@transaction.atomic
def load_pipes(max_cells: int = 1500, seed: int = 15) -> dict[str, int]:
    """A water network (valves on three streets in four, hydrants at some corners, households along the pipes)
    and a sewer network draining each street towards the lowest corner, along the built-up cells of the first
    district's urban streets."""
    if PipeNetwork.objects.exists():
        return {}
    rnd = random.Random(seed)
    streets = list(PLANS[0].urban_streets)
    cells = (Cell.objects.filter(street__name__in=streets).order_by("code").values_list("geom", flat=True)
             [:max_cells])
    nodes, edges = _lattice(cells)
    if not edges:
        return {}
    water_bureau = Bureau.objects.filter(code=f"{CITY_CODE}-SW").first()
    water = PipeNetwork.objects.create(code="DEMO-GS", name="城区给水管网", kind="water", owner="湘潭市自来水公司",
                                       bureau=water_bureau)
    sewer = PipeNetwork.objects.create(code="DEMO-WS", name="城区污水管网", kind="sewer", owner="湘潭市排水公司",
                                       bureau=water_bureau)
    coords = {i: xy for xy, i in nodes.items()}
    # Water: corners are junctions (some hydrants); three streets in four get a valve at their middle.
    points = [(f"GS-J{i}", "hydrant" if rnd.random() < 0.1 else "junction", x, y) for (x, y), i in nodes.items()]
    segments = []
    for n, (a, b) in enumerate(sorted(edges)):
        if rnd.random() < 0.75:
            (xa, ya), (xb, yb) = coords[a], coords[b]
            valve = f"GS-V{n}"
            points.append((valve, "valve", (xa + xb) / 2, (ya + yb) / 2))
            segments += [(f"GS-{n}a", f"GS-J{a}", valve, rnd.randint(0, 15)),
                         (f"GS-{n}b", valve, f"GS-J{b}", rnd.randint(0, 15))]
        else:
            segments.append((f"GS-{n}", f"GS-J{a}", f"GS-J{b}", rnd.randint(0, 30)))
    build_network(water, points, segments, {"material": "球墨铸铁", "diameter_mm": 200, "pressure_class": "0.6MPa",
                                            "depth_start_m": 1.2, "depth_end_m": 1.4, "year_laid": 2008,
                                            "owner": "湘潭市自来水公司"})
    # Sewer: every street drains downhill, here towards the south-west (the Xiangjiang), to outlets where the
    # built-up area ends.
    height = {i: x + y * 1.3 for i, (x, y) in coords.items()}
    downhill = [(a, b) if height[a] > height[b] else (b, a) for a, b in sorted(edges)]
    drains = {a for a, _ in downhill}  # a corner with no lower street is where the sewer leaves: an outlet
    s_points = [(f"WS-M{i}", "manhole" if i in drains else "outlet", x, y) for i, (x, y) in coords.items()]
    s_segments = [(f"WS-{n}", f"WS-M{a}", f"WS-M{b}") for n, (a, b) in enumerate(downhill)]
    build_network(sewer, s_points, s_segments, {"material": "钢筋混凝土", "diameter_mm": 600, "depth_start_m": 2.5,
                                                "depth_end_m": 2.8, "year_laid": 2005, "owner": "湘潭市排水公司"})
    linked = _link_components([(water, "hydrant", "BJ0108", "消防栓"), (sewer, "manhole", "BJ0102", "污水井盖")])
    from citygrid.dbroles import analyze

    analyze("assets_pipepoint", "assets_pipesegment", "assets_component")
    return {"water segments": len(segments), "sewer segments": len(s_segments), "valves": sum(
        1 for p in points if p[1] == "valve"), "pipe points that are census components": linked}


def _link_components(kinds: list[tuple]) -> int:
    """The pipe points the catalogue has a class for (hydrants, manhole covers) become census components too,
    linked from the point, coded after the census's last of their subclass."""
    from django.utils import timezone

    from grids.locate import locate_many

    from . import codes
    from .models import ComponentLog, PipePoint

    bureaus = _bureau_ids()
    linked = 0
    for network, kind, subclass, name in kinds:
        points = list(PipePoint.objects.filter(network=network, kind=kind).order_by("code"))
        where = locate_many([(p.geom.x, p.geom.y) for p in points])
        top: dict[str, int] = {}
        made = []
        for point, location in zip(points, where, strict=True):
            if location is None or "district" not in location.areas:
                continue
            county = location.areas["district"].code
            if county not in top:
                prefix = codes.make_code(county, subclass, 1)[:-codes.code_widths()[3]]
                last = (Component.objects.filter(code__startswith=prefix).order_by("-code")
                        .values_list("code", flat=True).first())
                top[county] = int(last[len(prefix):]) if last else 0
            top[county] += 1
            areas = location.areas
            made.append((point, Component(
                code=codes.make_code(county, subclass, top[county]), subclass=subclass, name=name, geom=point.geom,
                bureau_id=bureaus.get(subclass), owner=network.owner, accuracy="A",
                cell_id=location.cell_id, district_id=areas["district"].id,
                community_id=areas["community"].id if "community" in areas else None,
                street_id=areas["street"].id if "street" in areas else None)))
        Component.objects.bulk_create([c for _, c in made], batch_size=5000)
        now = timezone.now()
        ComponentLog.objects.bulk_create([ComponentLog(component=c, action="import", changes={}, note="demo pipes",
                                                       created_at=now) for _, c in made], batch_size=5000)
        for point, component in made:
            point.component = component
        PipePoint.objects.bulk_update([p for p, _ in made], ["component"], batch_size=5000)
        linked += len(made)
    return linked


