"""Point → unit grid cell and every area above it, for one point or many in one statement.

Cells cut from a lattice (see grids.generation) are found by arithmetic first: the point's lattice square
is computed from its projected coordinates and, where that square lies wholly in one cell, that is the
answer with no geometric test. Only the remaining points (near cell borders, or in cells not cut from a
lattice) are tested against cell polygons through the GiST index; points in no cell fall back to the
deepest area holding them. Only the active generation counts (grids.generations): `is_current` on areas
and cells, `active` on lattice squares. A point exactly on a border between cells is given to one of them, always
the same one.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from citygrid import prepared

_LEVEL_KEYS = ("community", "street", "district", "city")

_SQL = """
WITH pts AS MATERIALIZED (
    SELECT p.n, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326) AS g
    FROM unnest(%(xs)s::float8[], %(ys)s::float8[]) WITH ORDINALITY AS p(x, y, n)
),
bounds AS MATERIALIZED (
    -- Points outside the city's box lie in no cell, and far enough away they lie outside the lattice's
    -- projection, where ST_Transform fails: they skip the lattice.
    SELECT ST_Extent(geom)::geometry AS box FROM grids_area WHERE parent_id IS NULL AND is_current
),
keyed AS MATERIALIZED (
    -- Each point's square in every lattice, packed into one bigint as LatticeSquare.key is: a single-column
    -- join that the planner estimates well and runs as a hash join.
    SELECT p.n, (l.id::bigint << 44) + (floor(ST_X(m.t) / l.size)::bigint << 24) + floor(ST_Y(m.t) / l.size)::bigint
           AS key
    FROM pts p
    JOIN bounds b ON p.g && b.box
    CROSS JOIN grids_lattice l
    CROSS JOIN LATERAL (SELECT ST_Transform(p.g, l.srid::int) AS t) m
),
fast AS MATERIALIZED (
    SELECT k.n, s.cell_id FROM keyed k JOIN grids_latticesquare s ON s.key = k.key AND s.active
),
rest AS MATERIALIZED (
    SELECT p.n, p.g FROM pts p WHERE NOT EXISTS (SELECT 1 FROM fast f WHERE f.n = p.n)
),
slow AS MATERIALIZED (
    SELECT DISTINCT ON (r.n) r.n, c.id AS cell_id
    FROM rest r JOIN grids_cell c ON ST_Intersects(c.geom, r.g) AND c.is_current
    ORDER BY r.n, c.code
),
uncelled AS MATERIALIZED (
    SELECT DISTINCT ON (r.n) r.n, a.id AS area_id
    FROM rest r JOIN grids_area a ON ST_Intersects(a.geom, r.g) AND a.is_current
    WHERE NOT EXISTS (SELECT 1 FROM slow s WHERE s.n = r.n)
    ORDER BY r.n, a.level DESC
),
hits AS MATERIALIZED (
    SELECT f.n, c.id AS cell_id, c.code AS cell_code, c.community_id AS area_id
    FROM (SELECT n, cell_id FROM fast UNION ALL SELECT n, cell_id FROM slow) f
    JOIN grids_cell c ON c.id = f.cell_id
    UNION ALL
    SELECT n, NULL, NULL, area_id FROM uncelled
)
-- One row per located point, then one row (n = 0) per distinct chain of areas above them: the hierarchy
-- comes in the same statement without being repeated on every point's row.
SELECT n, cell_id, cell_code, area_id,
       NULL::int, NULL::text, NULL::text, NULL::bigint, NULL::int, NULL::text, NULL::text,
       NULL::bigint, NULL::int, NULL::text, NULL::text, NULL::bigint, NULL::int, NULL::text, NULL::text
FROM hits
UNION ALL
SELECT 0, NULL, NULL, a1.id,
       a1.level, a1.code, a1.name, a2.id, a2.level, a2.code, a2.name,
       a3.id, a3.level, a3.code, a3.name, a4.id, a4.level, a4.code, a4.name
FROM (SELECT DISTINCT area_id FROM hits) h
JOIN grids_area a1 ON a1.id = h.area_id
LEFT JOIN grids_area a2 ON a2.id = a1.parent_id
LEFT JOIN grids_area a3 ON a3.id = a2.parent_id
LEFT JOIN grids_area a4 ON a4.id = a3.parent_id
"""

_LEVEL_NAMES = {1: "city", 2: "district", 3: "street", 4: "community"}

# Planning the statement costs several milliseconds, far more than running it for a few points: small
# batches (a phone asking where it is) run it prepared once per connection, with a generic plan (the
# connection sets plan_cache_mode); large batches are planned for their size each time.
_PREPARED_MAX = 64


def _run(xs: list[float], ys: list[float]) -> list[tuple]:
    with connection.cursor() as cur:
        if len(xs) > _PREPARED_MAX:
            cur.execute(_SQL, {"xs": xs, "ys": ys})
        else:
            prepared.execute(cur, _SQL, {"xs": xs, "ys": ys})
        return cur.fetchall()


@dataclass(frozen=True)
class AreaRef:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class Location:
    """Where a point falls. `cell` is None inside the city but outside every cell."""

    cell_id: int | None
    cell_code: str | None
    areas: dict[str, AreaRef]  # level name → area, for the levels that hold the point

    def as_dict(self) -> dict:
        data: dict = {"cell": {"id": self.cell_id, "code": self.cell_code} if self.cell_id else None}
        for key in _LEVEL_KEYS:
            ref = self.areas.get(key)
            data[key] = {"id": ref.id, "code": ref.code, "name": ref.name} if ref else None
        return data


class OutsideJurisdiction(Exception):
    """The point lies in no area of the city."""


def validate_point(lon: float, lat: float) -> None:
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"({lon}, {lat}) is not a WGS84 longitude/latitude")


def locate_many(points: Sequence[tuple[float, float]]) -> list[Location | None]:
    """Locate WGS84 (lon, lat) points in one statement; None for a point outside the city."""
    if len(points) > settings.GRID_LOCATE_BATCH_MAX:
        raise ValueError(f"at most {settings.GRID_LOCATE_BATCH_MAX} points per batch")
    for lon, lat in points:
        validate_point(lon, lat)
    results: list[Location | None] = [None] * len(points)
    if not points:
        return results
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    rows = _run(xs, ys)
    chains: dict[int, dict[str, AreaRef]] = {}
    for row in rows:
        if row[0] == 0:
            chains[row[3]] = {_LEVEL_NAMES[row[k + 1]]: AreaRef(row[k], row[k + 2], row[k + 3])
                              for k in range(3, 19, 4) if row[k] is not None}
    for n, cell_id, cell_code, area_id, *_ in rows:
        if n:
            results[n - 1] = Location(cell_id, cell_code, chains[area_id])
    return results


def locate(lon: float, lat: float) -> Location:
    """Locate one WGS84 point; raises OutsideJurisdiction for a point outside the city."""
    location = locate_many([(lon, lat)])[0]
    if location is None:
        raise OutsideJurisdiction(f"({lon}, {lat}) is outside the jurisdiction")
    return location
