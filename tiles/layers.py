"""The layers as Mapbox Vector Tiles: for each, one SQL statement that PostGIS answers with the tile's bytes
(ST_TileEnvelope + ST_AsMVTGeom + ST_AsMVT). The rows come from the owning app's own scoped querysets
(`assets.scoping`, `incidents.views.filtered_cases`), compiled into the statement, so a tile holds exactly what
the same user's GeoJSON would: the scope is applied in SQL, never by filtering in Python.

Generalisation per zoom: areas by level (streets from z10, communities from z12) simplified to half a pixel;
cells from z13; components and pipes from COMPONENT_MIN_ZOOM (as their GeoJSON); cases as clusters (a count per
16-pixel square) below CASE_POINTS_ZOOM and as points from it. Attributes are what the pages draw and the
identifier they fetch details by — no personal data (no reporter, no contact, no description)."""

import math
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.gis.geos import Polygon
from django.core.exceptions import EmptyResultSet
from django.db.models import (
    BinaryField,
    BooleanField,
    CharField,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    Q,
    QuerySet,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Now

EXTENT = 4096  # tile units per side (the MVT default)
BUFFER = 64  # units drawn past the edge, so that lines and points do not end at tile seams
MAX_ZOOM = 22
CELL_MIN_ZOOM = 13  # a 100 m cell is about 10 px wide at zoom 13
CASE_POINTS_ZOOM = 15  # below it, cases are clusters with a count
CLUSTER_UNITS = 256  # a cluster square: 1/16 of the tile side, 16 px on a 256-px tile
AREA_LEVEL_ZOOM = {1: 0, 2: 0, 3: 10, 4: 12}  # grids.models.Level → the zoom it appears from


@dataclass(frozen=True)
class Tile:
    z: int
    x: int
    y: int

    def bounds(self, margin: float = BUFFER / EXTENT) -> tuple[float, float, float, float]:
        """(west, south, east, north) in WGS84, widened by `margin` tiles (the drawn buffer)."""
        n = 2 ** self.z

        def lon(x: float) -> float:
            return x / n * 360.0 - 180.0

        def lat(y: float) -> float:
            y = min(max(y, 0.0), float(n))
            return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))

        return (lon(self.x - margin), lat(self.y + 1 + margin), lon(self.x + 1 + margin), lat(self.y - margin))

    def box(self, margin: float = BUFFER / EXTENT) -> Polygon:
        box = Polygon.from_bbox(self.bounds(margin))
        box.srid = 4326
        return box

    def half_pixel_m(self) -> float:
        """Half a pixel of a 256-px tile, in Web Mercator metres: the simplification tolerance."""
        return 40075016.685578488 / 2 ** self.z / 256 / 2


class TileGeom(Func):
    """A WGS84 geometry column as tile coordinates (ST_AsMVTGeom), optionally simplified first (in metres)."""

    output_field = BinaryField()

    def __init__(self, expression, tile: Tile, simplify_m: float = 0.0, clip: bool = False):
        geom = "%(expressions)s"
        if clip:  # a big polygon (a district): cut to the tile before projecting it
            w, s, e, n = tile.bounds(margin=2 * BUFFER / EXTENT)
            geom = f"ST_ClipByBox2D({geom}, ST_MakeEnvelope({w!r}, {s!r}, {e!r}, {n!r}, 4326))"
        geom = f"ST_Transform({geom}, 3857)"
        if simplify_m:
            geom = f"ST_SimplifyPreserveTopology({geom}, {float(simplify_m)!r})"
        template = (f"ST_AsMVTGeom({geom}, ST_TileEnvelope({int(tile.z)}, {int(tile.x)}, {int(tile.y)}), "
                    f"{EXTENT}, {BUFFER}, true)")
        super().__init__(expression, template=template)


def _mvt(qs: QuerySet, name: str, attributes: dict[str, str], feature_id: bool = True) -> tuple[str, list]:
    """One layer's ST_AsMVT over a queryset whose values() hold `fid`, `tile_geom` (tile coordinates) and the
    attributes under aliases (a values() alias may not be a model field's name): `attributes` maps each alias
    to the attribute's name in the tile."""
    sql, params = _sql(qs)
    if sql is None:
        return _empty()
    columns = ", ".join([*(f'p."{alias}" AS "{attr}"' for alias, attr in attributes.items()),
                         *(["p.fid"] if feature_id else []), "p.tile_geom AS geom"])
    id_arg = ", 'fid'" if feature_id else ""
    return (f"coalesce((SELECT ST_AsMVT(t, %s, {EXTENT}, 'geom'{id_arg}) FROM (SELECT {columns} FROM ({sql}) p "
            f"WHERE p.tile_geom IS NOT NULL) t), ''::bytea)", [name, *params])


def _sql(qs: QuerySet) -> tuple[str | None, tuple]:
    """The queryset's SQL, or None when the scope grants nothing (Django's none())."""
    try:
        return qs.query.sql_with_params()
    except EmptyResultSet:
        return None, ()


def _empty() -> tuple[str, list]:
    return "''::bytea", []


def _flag(condition: Q) -> ExpressionWrapper:
    return ExpressionWrapper(condition, output_field=BooleanField())


# --- the layers -------------------------------------------------------------------------------------------------

def areas(request, tile: Tile) -> tuple[str, list]:
    """Districts, streets and communities (the city too) with code, name and level; by level per zoom."""
    from grids.models import Area

    levels = [level for level, zoom in AREA_LEVEL_ZOOM.items() if tile.z >= zoom]
    qs = (Area.objects.filter(level__in=levels, geom__bboverlaps=tile.box()).order_by()
          .values(fid=F("id"), a_code=F("code"), a_name=F("name"), a_level=F("level"),
                  tile_geom=TileGeom("geom", tile, simplify_m=tile.half_pixel_m(), clip=True)))
    return _mvt(qs, "areas", {"a_code": "code", "a_name": "name", "a_level": "level"})


def cells(request, tile: Tile) -> tuple[str, list]:
    """Unit grid cells with their code, from CELL_MIN_ZOOM."""
    from grids.models import Cell

    if tile.z < CELL_MIN_ZOOM:
        return _empty()
    qs = (Cell.objects.filter(geom__bboverlaps=tile.box()).order_by()
          .values(fid=F("id"), c_code=F("code"), tile_geom=TileGeom("geom", tile, simplify_m=tile.half_pixel_m())))
    return _mvt(qs, "cells", {"c_code": "code"})


def components(request, tile: Tile) -> tuple[str, list]:
    """The census components the user may see (assets.scoping), from COMPONENT_MIN_ZOOM, at most
    COMPONENT_MAP_MAX a tile: code, subclass, status and name (the popup's; the code to fetch the detail by) and
    shape (point, line or area)."""
    from assets.scoping import visible_components

    if tile.z < settings.COMPONENT_MIN_ZOOM:
        return _empty()
    qs = (visible_components(request.user).filter(geom__bboverlaps=tile.box()).order_by()
          .values(fid=F("id"), c_code=F("code"), c_sub=F("subclass"), c_status=F("status"), c_name=F("name"),
                  c_shape=Func("geom", template=_SHAPE, output_field=CharField()),
                  tile_geom=TileGeom("geom", tile))[:settings.COMPONENT_MAP_MAX])
    return _mvt(qs, "components", {"c_code": "code", "c_sub": "subclass", "c_status": "status", "c_name": "name",
                                   "c_shape": "shape"})


# A point, line or area component: the page styles them differently (a style sees attributes, not geometry).
_SHAPE = "(CASE ST_Dimension(%(expressions)s) WHEN 0 THEN 'point' WHEN 1 THEN 'line' ELSE 'area' END)"


def pipes(request, tile: Tile) -> tuple[str, list]:
    """Pipe segments and points (junctions aside) the user may see, from COMPONENT_MIN_ZOOM: two layers."""
    from assets.scoping import visible_points, visible_segments

    if tile.z < settings.COMPONENT_MIN_ZOOM:
        return _empty()
    box = tile.box()
    segments = (visible_segments(request.user).filter(geom__bboverlaps=box).order_by()
                .values(fid=F("id"), s_code=F("code"), s_kind=F("network__kind"), s_diameter=F("diameter_mm"),
                        s_status=F("status"), tile_geom=TileGeom("geom", tile))[:settings.COMPONENT_MAP_MAX])
    points = (visible_points(request.user).filter(geom__bboverlaps=box).exclude(kind="junction").order_by()
              .values(fid=F("id"), p_code=F("code"), p_network=F("network__kind"), p_kind=F("kind"),
                      tile_geom=TileGeom("geom", tile))[:settings.COMPONENT_MAP_MAX])
    seg_sql, seg_params = _mvt(segments, "segments", {"s_code": "code", "s_kind": "network_kind",
                                                      "s_diameter": "diameter_mm", "s_status": "status"})
    pt_sql, pt_params = _mvt(points, "points", {"p_code": "code", "p_network": "network_kind", "p_kind": "kind"})
    return f"{seg_sql} || {pt_sql}", [*seg_params, *pt_params]


def cases(request, tile: Tile) -> tuple[str, list]:
    """The cases the user may see, filtered as the case list is (`incidents.views.filtered_cases`: status,
    category, area, bureau, urgency, dates, overdue; open cases when no status is given). Below
    CASE_POINTS_ZOOM a count per 16-pixel square (with how many are overdue or emergencies); from it each case
    with its number (the detail's key), status, urgency, category and whether it is overdue."""
    from incidents.models import FINAL_STATUSES
    from incidents.views import filtered_cases

    qs = filtered_cases(request).order_by()  # the user's scope (incidents.scoping), then the list's filters
    if not request.query_params.get("status"):
        qs = qs.exclude(status__in=FINAL_STATUSES)
    base = qs
    qs = qs.filter(location__bboverlaps=tile.box())
    late = _flag(Q(deadline__isnull=False, deadline__lt=Now()) & ~Q(status__in=FINAL_STATUSES))  # never NULL
    if tile.z >= CASE_POINTS_ZOOM:
        rows = qs.values(fid=F("id"), k_number=F("number"), k_status=F("status"), k_urgency=F("urgency"),
                         k_category=F("category__code"), k_overdue=late, tile_geom=TileGeom("location", tile))
        return _mvt(rows, "cases", {"k_number": "number", "k_status": "status", "k_urgency": "urgency",
                                    "k_category": "category", "k_overdue": "overdue"})
    # Clusters: each case counted in the one tile it lies in, by its place on the tile pyramid stored with it
    # (incidents migration 0011: its zoom-24 pixel and their Morton key): the tile is one range of keys, which the
    # open cases' index answers alone, and a case's 16-pixel square is integer arithmetic on its pixel. With a
    # status asked for (closed cases are not in that index) the box goes beside the range, for the spatial index;
    # not otherwise, or the planner combines both and reads every case from the table again.
    lo, hi = tile_key_range(tile)
    side = 2 ** (KEY_ZOOM - tile.z)  # zoom-24 pixels across the tile
    if request.query_params.get("status"):
        base = base.filter(location__bboverlaps=tile.box(margin=0))
    rows = (base
            .extra(where=["incidents_case.tile_key >= %s", "incidents_case.tile_key < %s"], params=[lo, hi])
            .values(emergency=_flag(Q(urgency="emergency")), overdue=late,
                    px=RawSQL("incidents_case.tile_x - %s", [tile.x * side], output_field=IntegerField()),
                    py=RawSQL("incidents_case.tile_y - %s", [tile.y * side], output_field=IntegerField())))
    sql, params = _sql(rows)
    if sql is None:
        return _empty()
    scale, square = EXTENT / side, side * CLUSTER_UNITS // EXTENT  # tile units per pixel; pixels per square
    return (f"coalesce((SELECT ST_AsMVT(t, %s, {EXTENT}, 'geom') FROM ("
            f"SELECT ST_MakePoint(round(avg(q.px) * {scale!r}), round(avg(q.py) * {scale!r})) AS geom, "
            f"count(*) AS count, count(*) FILTER (WHERE q.overdue) AS overdue, "
            f"count(*) FILTER (WHERE q.emergency) AS emergency "
            f"FROM ({sql}) q GROUP BY q.px / {square}, q.py / {square}) t), ''::bytea)",
            ["cases", *params])


KEY_ZOOM = 24  # the zoom of the pixels cases' tile keys are made of (incidents migration 0011)


def _morton(x: int, y: int) -> int:
    """x's bits in the even places, y's in the odd ones: as incidents_morton() in SQL."""
    key = 0
    for bit in range(KEY_ZOOM):
        key |= ((x >> bit) & 1) << (2 * bit) | ((y >> bit) & 1) << (2 * bit + 1)
    return key


def tile_key_range(tile: Tile) -> tuple[int, int]:
    """The cases' tile keys inside a tile of zoom ≤ KEY_ZOOM: [lo, hi)."""
    shift = 2 * (KEY_ZOOM - tile.z)
    prefix = _morton(tile.x, tile.y)
    return prefix << shift, (prefix + 1) << shift


@dataclass(frozen=True)
class Layer:
    build: Callable[..., tuple[str, list]]
    scoped: bool  # differs by user: cached privately and revalidated every time


LAYERS: dict[str, Layer] = {
    "areas": Layer(areas, scoped=False),
    "cells": Layer(cells, scoped=False),
    "components": Layer(components, scoped=True),
    "pipes": Layer(pipes, scoped=True),
    "cases": Layer(cases, scoped=True),
}

