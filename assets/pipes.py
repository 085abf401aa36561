"""The questions people ask of the pipe networks, on PostGIS and pgRouting:

- what is under here (挖掘前管线查询): every segment and point within N metres of a point or a drawn line, with
  the depth where it passes and its owner;
- which valves to close (关阀分析): for a burst segment of a pressurised network, the valves that isolate it, the
  segments cut off and the customers on them — the connected component of the burst on the network's graph with
  every valve made a barrier (each valve split into one end per segment touching it), by pgr_connectedComponents;
- what is downstream / upstream (drainage): the segments and manholes a blocked sewer or storm segment drains to,
  or that drain to it, by pgr_drivingDistance on the graph directed by flow (source → target)."""

import math
from dataclasses import dataclass, field

from django.db import connection
from django.utils.translation import gettext as _

from .models import FLOW_KINDS, VALVED_KINDS, PipeSegment

_DEG_PER_M = 1 / 111_320
MAX_RADIUS_M = 200
# Above every point id: a valve's end on one segment is VALVE_END + 2 × segment id (+1 at its target end).
VALVE_END = 10**12


class PipeQueryError(ValueError):
    """The question does not apply (a drainage segment for valves, a pressurised one for flow…)."""


_UNDER_SEGMENTS = """
WITH q AS (SELECT ST_GeomFromText(%(wkt)s, 4326) AS g)
SELECT s.code, n.kind, n.name, s.material, s.diameter_mm, s.pressure_class, s.year_laid,
       COALESCE(NULLIF(s.owner, ''), n.owner) AS owner, s.status,
       s.depth_start_m, s.depth_end_m,
       ST_LineLocatePoint(s.geom, ST_ClosestPoint(s.geom, q.g)) AS along,
       ST_Distance(s.geom::geography, q.g::geography) AS distance
FROM assets_pipesegment s JOIN assets_pipenetwork n ON n.id = s.network_id, q
WHERE s.geom && ST_Expand(q.g, %(deg)s) AND ST_DWithin(s.geom::geography, q.g::geography, %(radius)s)
ORDER BY distance, s.code LIMIT 500
"""

_UNDER_POINTS = """
WITH q AS (SELECT ST_GeomFromText(%(wkt)s, 4326) AS g)
SELECT p.code, p.kind, n.kind, n.name, p.depth_m, n.owner, ST_X(p.geom), ST_Y(p.geom),
       ST_Distance(p.geom::geography, q.g::geography) AS distance
FROM assets_pipepoint p JOIN assets_pipenetwork n ON n.id = p.network_id, q
WHERE p.geom && ST_Expand(q.g, %(deg)s) AND ST_DWithin(p.geom::geography, q.g::geography, %(radius)s)
ORDER BY distance, p.code LIMIT 500
"""


def under_here(wkt: str, lat: float, radius: float) -> dict:
    """Segments and points within `radius` metres of a WGS84 point or line (WKT), nearest first, with the depth
    where each segment passes (interpolated between its two ends) and its owner."""
    deg = radius * _DEG_PER_M / max(math.cos(math.radians(lat)), 0.01)
    args = {"wkt": wkt, "deg": deg, "radius": radius}
    with connection.cursor() as cur:
        cur.execute(_UNDER_SEGMENTS, args)
        segments = []
        for (code, kind, network, material, diameter, pressure, year, owner, status, d0, d1, along,
             distance) in cur.fetchall():
            depth = d0 + (d1 - d0) * along if d0 is not None and d1 is not None else (d0 if d1 is None else d1)
            segments.append({"code": code, "network_kind": kind, "network": network, "material": material,
                             "diameter_mm": diameter, "pressure_class": pressure, "year_laid": year, "owner": owner,
                             "status": status, "depth_m": round(depth, 2) if depth is not None else None,
                             "distance_m": round(distance, 1)})
        cur.execute(_UNDER_POINTS, args)
        points = [{"code": code, "kind": kind, "network_kind": nkind, "network": network,
                   "depth_m": depth, "owner": owner, "lon": round(x, 7), "lat": round(y, 7),
                   "distance_m": round(distance, 1)}
                  for code, kind, nkind, network, depth, owner, x, y, distance in cur.fetchall()]
    return {"radius_m": radius, "segments": segments, "points": points}


# The graph of one network with every valve a barrier: a segment's end at a valve gets a node of its own.
_VALVE_SPLIT_EDGES = """
SELECT s.id,
       CASE WHEN ps.kind = 'valve' THEN {valve_end} + 2 * s.id ELSE s.source_id END AS source,
       CASE WHEN pt.kind = 'valve' THEN {valve_end} + 2 * s.id + 1 ELSE s.target_id END AS target,
       1.0::float8 AS cost, 1.0::float8 AS reverse_cost
FROM assets_pipesegment s
JOIN assets_pipepoint ps ON ps.id = s.source_id
JOIN assets_pipepoint pt ON pt.id = s.target_id
WHERE s.network_id = {network} AND s.status = 'in_use' {window}
"""

_ISOLATION = """
WITH cc AS MATERIALIZED (SELECT node, component FROM pgr_connectedComponents(%(edges)s)),
burst AS (
    SELECT CASE WHEN ps.kind = 'valve' THEN {valve_end} + 2 * s.id ELSE s.source_id END AS node
    FROM assets_pipesegment s JOIN assets_pipepoint ps ON ps.id = s.source_id WHERE s.id = %(segment)s
),
mine AS (SELECT cc.component FROM cc JOIN burst ON cc.node = burst.node),
iso AS MATERIALIZED (
    SELECT s.id, s.code, s.source_id, s.target_id, s.customers, s.length_m
    FROM assets_pipesegment s
    JOIN assets_pipepoint ps ON ps.id = s.source_id
    JOIN cc ON cc.node = CASE WHEN ps.kind = 'valve' THEN {valve_end} + 2 * s.id ELSE s.source_id END
    WHERE s.network_id = %(network)s AND s.status = 'in_use' {window} AND cc.component = (SELECT component FROM mine)
),
ends AS (SELECT source_id AS id FROM iso UNION SELECT target_id FROM iso)
SELECT 'segment', code, customers, length_m, NULL::float8, NULL::float8, id FROM iso
UNION ALL
SELECT CASE WHEN p.kind = 'valve' THEN 'valve' ELSE 'point' END, p.code, p.customers, NULL,
       ST_X(p.geom), ST_Y(p.geom), p.id
FROM ends JOIN assets_pipepoint p ON p.id = ends.id
"""

# Whether the answer in a window is the whole answer: no pipe outside the window leaves an isolated point that is
# not a valve (the water would still reach it from outside, so the window was too small).
_LEAKS_OUT = """
SELECT EXISTS (
    SELECT 1 FROM assets_pipesegment s
    WHERE s.network_id = %(network)s AND s.status = 'in_use' AND NOT (s.geom && {envelope})
      AND (s.source_id = ANY(%(points)s) OR s.target_id = ANY(%(points)s))
)
"""
# Windows tried in turn, metres around the burst: the isolated area is almost always within the first; the
# whole network is the last resort.
WINDOWS_M = (400, 1600, 6400, None)


@dataclass
class Isolation:
    segment: str
    valves: list[dict] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)
    customers: int = 0
    length_m: float = 0.0

    def as_dict(self) -> dict:
        return {"segment": self.segment, "valves": self.valves, "segments": self.segments,
                "customers": self.customers, "length_m": round(self.length_m, 1)}


def isolation(segment: PipeSegment) -> Isolation:
    """The valves that isolate a burst segment (关阀分析), the segments cut off and their customers."""
    network = segment.network
    if network.kind not in VALVED_KINDS:
        raise PipeQueryError(_("A %(kind)s network has no valves to close.") % {"kind": network.get_kind_display()})
    if segment.status != "in_use":
        raise PipeQueryError(_("The segment is not in use."))
    for radius in WINDOWS_M:
        if radius is None:
            envelope, window = "", ""
        else:
            minx, miny, maxx, maxy = segment.geom.extent
            dy = radius * _DEG_PER_M
            dx = dy / max(math.cos(math.radians(miny)), 0.01)
            envelope = f"ST_MakeEnvelope({minx - dx:.9f}, {miny - dy:.9f}, {maxx + dx:.9f}, {maxy + dy:.9f}, 4326)"
            window = f"AND s.geom && {envelope}"
        edges = _VALVE_SPLIT_EDGES.format(valve_end=VALVE_END, network=int(network.pk), window=window)
        with connection.cursor() as cur:
            cur.execute(_ISOLATION.format(valve_end=VALVE_END, window=window),
                        {"edges": edges, "segment": segment.pk, "network": network.pk})
            rows = cur.fetchall()
            if radius is None:
                break
            inner = [row[6] for row in rows if row[0] == "point"]
            cur.execute(_LEAKS_OUT.format(envelope=envelope), {"network": network.pk, "points": inner})
            if not cur.fetchone()[0]:
                break
    result = Isolation(segment.code)
    for what, code, customers, length, x, y, _id in rows:
        if what == "segment":
            result.segments.append(code)
            result.customers += customers
            result.length_m += length
        elif what == "valve":
            result.valves.append({"code": code, "lon": round(x, 7), "lat": round(y, 7)})
        else:
            result.customers += customers
    result.segments.sort()
    result.valves.sort(key=lambda v: v["code"])
    return result


_FLOW_EDGES = """
SELECT s.id, s.{a} AS source, s.{b} AS target, s.length_m AS cost, -1::float8 AS reverse_cost
FROM assets_pipesegment s WHERE s.network_id = {network} AND s.status = 'in_use'
"""

_FLOW = """
WITH reached AS MATERIALIZED (
    SELECT node, agg_cost FROM pgr_drivingDistance(%(edges)s, %(start)s, 1e12::float8, true)
),
segs AS MATERIALIZED (
    SELECT s.id, s.code, s.{a} AS from_node, s.{b} AS to_node, r.agg_cost
    FROM assets_pipesegment s JOIN reached r ON r.node = s.{a}
    WHERE s.network_id = %(network)s AND s.status = 'in_use' AND s.id <> %(segment)s
)
SELECT 'segment', code, agg_cost FROM segs
UNION ALL
SELECT 'point', p.code, r.agg_cost
FROM reached r JOIN assets_pipepoint p ON p.id = r.node
WHERE p.kind IN ('manhole', 'outlet', 'pump')
"""


def flow(segment: PipeSegment, direction: str) -> dict:
    """Segments and manholes downstream ("down") or upstream ("up") of a drainage segment, nearest first by
    distance along the pipes (metres)."""
    network = segment.network
    if network.kind not in FLOW_KINDS:
        raise PipeQueryError(_("A %(kind)s network has no flow direction.") % {"kind": network.get_kind_display()})
    if direction not in ("down", "up"):
        raise PipeQueryError(_("The direction is down or up."))
    # Downstream: from the segment's target along source → target; upstream: the same on the reversed graph.
    a, b, start = ("source_id", "target_id", segment.target_id) if direction == "down" else \
        ("target_id", "source_id", segment.source_id)
    edges = _FLOW_EDGES.format(a=a, b=b, network=int(network.pk))
    segments, points = [], []
    with connection.cursor() as cur:
        cur.execute(_FLOW.format(a=a, b=b), {"edges": edges, "start": start, "network": network.pk,
                                             "segment": segment.pk})
        for what, code, cost in sorted(cur.fetchall(), key=lambda r: (r[2], r[1])):
            (segments if what == "segment" else points).append({"code": code, "along_m": round(cost, 1)})
    return {"segment": segment.code, "direction": direction, "segments": segments, "points": points}
