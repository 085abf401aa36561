"""Dividing communities into unit grid cells: squares of a lattice in a metric projection, clipped to
the community, with slivers along the boundary merged into a neighbour, coded west→east, north→south.

The squares come from PostGIS (ST_SquareGrid in the metric projection, ST_Intersection with the
community); the sliver merge runs in shapely. Cells tile their community exactly: every piece of the
community falls in exactly one cell.
"""

from dataclasses import dataclass, field

import shapely
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.db import connection, transaction
from shapely.geometry.base import BaseGeometry

from . import codes
from .models import Area, Cell, Generation, Lattice, LatticeSquare, Level
from .projection import STORAGE_SRID, metric_srid_for, transformed


class GenerationError(Exception):
    pass


@dataclass
class _Group:
    anchor: tuple[int, int]  # lattice square of the largest piece; orders the cells
    geom: BaseGeometry
    squares: set[tuple[int, int]] = field(default_factory=set)
    whole: set[tuple[int, int]] = field(default_factory=set)


@dataclass
class CommunityResult:
    community: Area
    cells: int = 0
    skipped: bool = False


def _pieces(community: Area, srid: int, size: float) -> list[tuple[int, int, bytes, float]]:
    with connection.cursor() as cur:
        cur.execute(
            """
            WITH c AS (SELECT ST_Transform(geom, %(srid)s) AS g FROM grids_area WHERE id = %(id)s),
                 p AS (SELECT s.i, s.j, ST_CollectionExtract(ST_Intersection(s.geom, c.g), 3) AS g
                       FROM c, ST_SquareGrid(%(size)s, c.g) AS s WHERE ST_Intersects(s.geom, c.g))
            SELECT i, j, ST_AsBinary(g), ST_Area(g) FROM p WHERE NOT ST_IsEmpty(g) AND ST_Area(g) > 0
            """,
            {"srid": srid, "id": community.pk, "size": size},
        )
        return [(i, j, bytes(wkb), area) for i, j, wkb, area in cur.fetchall()]


def _merge_slivers(groups: dict[tuple[int, int], _Group], min_area: float) -> list[_Group]:
    """Merge every piece smaller than min_area into the touching group it shares the longest edge with."""
    owner = {sq: g for g in groups.values() for sq in g.squares}
    live = set(map(id, groups.values()))
    for group in sorted(groups.values(), key=lambda g: g.geom.area):
        if id(group) not in live or group.geom.area >= min_area:
            continue
        best, best_len = None, 0.0
        for i, j in group.squares:
            for nb in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                other = owner.get(nb)
                if other is None or other is group:
                    continue
                shared = group.geom.intersection(other.geom).length
                if shared > best_len:
                    best, best_len = other, shared
        if best is None:
            continue  # an island on its own: it stays a (small) cell
        if group.geom.area > best.geom.area:
            best.anchor = group.anchor
        best.geom = shapely.union(best.geom, group.geom)
        best.squares |= group.squares
        best.whole |= group.whole
        for sq in group.squares:
            owner[sq] = best
        live.discard(id(group))
    return [g for g in groups.values() if id(g) in live]


def _lattice(srid: int, size: float) -> Lattice:
    lattice, _ = Lattice.objects.get_or_create(srid=srid, size=size)
    return lattice


@transaction.atomic
def generate_cells(community: Area, *, size: float = 100.0, min_fraction: float = 0.3,
                   srid: int | None = None, replace: bool = False,
                   generation: Generation | None = None) -> CommunityResult:
    """Cut one community into cells; existing cells are kept unless `replace`.

    With a (pending) `generation`, the community's cells of that generation end there and the new ones start
    in it, inactive until it is activated (grids.generations): cases keep the old cells. Without one, cells
    are written into the active generation in place, and replacing deletes the old ones.
    """
    from . import generations

    if community.level != Level.COMMUNITY:
        raise GenerationError(f"{community} is not a community")
    if size <= 0:
        raise GenerationError("cell size must be positive")
    result = CommunityResult(community)
    old_cells = Cell.objects.in_generation(generation) if generation else Cell.objects.current()
    old_cells = list(old_cells.filter(community=community).prefetch_related("inspectors", "bureaus"))
    if old_cells:
        if not replace:
            result.skipped = True
            return result
        if generation is None:
            Cell.objects.filter(pk__in=[c.pk for c in old_cells]).delete()
        else:
            for cell in old_cells:
                generations.end_in(cell, generation)
    srid = srid or metric_srid_for(community.geom.centroid.x)
    full = size * size
    groups: dict[tuple[int, int], _Group] = {}
    for i, j, wkb, area in _pieces(community, srid, size):
        geom = shapely.from_wkb(wkb)
        groups[(i, j)] = _Group(anchor=(i, j), geom=geom, squares={(i, j)},
                                whole={(i, j)} if area >= full * (1 - 1e-9) else set())
    cells = _merge_slivers(groups, min_fraction * full)
    width = codes.local_width(codes.CELL)
    if len(cells) >= 10**width:
        raise GenerationError(
            f"{community.name} ({community.code}) needs {len(cells)} cells of {size:g} m, more than a "
            f"{width}-digit sequence holds; use a larger --size or split the community"
        )
    # West→east within a row, rows north→south.
    cells.sort(key=lambda g: (-g.anchor[1], g.anchor[0]))
    street = community.parent
    lattice = _lattice(srid, size)
    objs, squares = [], []
    for seq, group in enumerate(cells, start=1):
        geom = transformed(GEOSGeometry(memoryview(shapely.to_wkb(group.geom)), srid=srid), STORAGE_SRID)
        if geom.geom_type == "Polygon":
            geom = MultiPolygon(geom, srid=STORAGE_SRID)
        cell = Cell(code=codes.child_code(community.code, codes.CELL, seq), community=community,
                    street_id=street.pk, district_id=street.parent_id, geom=geom)
        if generation is not None:
            cell.generation_low, cell.is_current = generation, False
        objs.append(cell)
    Cell.objects.bulk_create(objs, batch_size=1000)
    live = generation is None or generation.active
    for cell, group in zip(objs, cells, strict=True):
        squares.extend(LatticeSquare(lattice=lattice, i=i, j=j, key=LatticeSquare.pack(lattice.pk, i, j), cell=cell,
                                     active=live) for i, j in group.whole)
    LatticeSquare.objects.bulk_create(squares, batch_size=5000)
    if generation is not None and old_cells:
        _inherit(objs, old_cells)
    result.cells = len(objs)
    return result


def _inherit(new_cells: list[Cell], old_cells: list[Cell]) -> None:
    """A re-gridded community's new cells take the inspectors and bureaus of the old cell holding their
    point on surface: the people who walked that ground keep walking it."""
    for cell in new_cells:
        point = cell.geom.point_on_surface
        old = next((c for c in old_cells if c.geom.intersects(point)), None)
        if old is not None:
            cell.inspectors.set(old.inspectors.all())
            cell.bureaus.set(old.bureaus.all())


def analyze_grid_tables() -> None:
    """Refresh the planner's statistics after bulk changes: locating plans by the size of these tables."""
    from citygrid.dbroles import analyze

    analyze("grids_area", "grids_cell", "grids_lattice", "grids_latticesquare")
