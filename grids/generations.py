"""Boundary generations (边界版本), as mySociety MapIt's: the grid changes by whole generations.

Every area and cell carries the range of generations it is valid in: `generation_low` … `generation_high`
(empty high: still valid in the newest). Importing with `--new-generation` or re-gridding with
`generate_cells --new-generation` writes into a *pending* generation (the newest, not yet active; made if
there is none): a changed row is not updated in place — its old row ends at the generation before, and a new
row starts in the pending one; unchanged rows simply span both. Nothing the product does sees the pending
generation until `activate_generation`, which flips `is_current` (the cached "valid in the active
generation" that locating tests) and swaps the lattice squares. Cases, tallies and bulletins keep the rows
of their time (their foreign keys never move), so figures over a period spanning a change count each case
where it was; an old generation stays queryable (`?generation=N` on the grid API).

"Current" for other apps: `Area.objects.current()`, `Cell.objects.current()`, or `current_areas()` /
`current_cells()` here.
"""

from dataclasses import dataclass, field

from django.apps import apps as django_apps
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import Area, Cell, Generation, Lattice, LatticeSquare


class GenerationsError(Exception):
    """A generation cannot be made, changed or activated; one readable line."""


def active_generation() -> Generation:
    generation = Generation.objects.filter(active=True).first()
    if generation is None:
        raise GenerationsError("no active generation (the grid's migration 0004 makes generation 1)")
    return generation


def current_areas() -> QuerySet[Area]:
    return Area.objects.current()


def current_cells() -> QuerySet[Cell]:
    return Cell.objects.current()


def lineage(area_id: int | None) -> list[int]:
    """An area's rows in every generation (its code at its level), for scopes: a district's staff move to its new
    row when a generation changes its boundary, while cases, warnings, incidents, tallies and bulletins keep the row
    of their time — and stay theirs. Empty for None."""
    if area_id is None:
        return []
    row = Area.objects.filter(pk=area_id).values_list("code", "level").first()
    if row is None:
        return [area_id]
    return sorted(Area.objects.filter(code=row[0], level=row[1]).values_list("pk", flat=True))


def pending_generation() -> Generation | None:
    """The newest generation when it is newer than the active one (MapIt's "new" generation)."""
    active = active_generation()
    return Generation.objects.filter(pk__gt=active.pk).order_by("-pk").first()


def new_generation(description: str = "") -> Generation:
    """The pending generation, made now if there is none; further changes join it until it is activated."""
    pending = pending_generation()
    if pending is not None:
        if description and description not in pending.description:
            pending.description = f"{pending.description}; {description}" if pending.description else description
            pending.save(update_fields=["description"])
        return pending
    return Generation.objects.create(description=description)


def previous_id(generation: Generation) -> int:
    """The generation before this one (ids need not be consecutive)."""
    prev = Generation.objects.filter(pk__lt=generation.pk).order_by("-pk").values_list("pk", flat=True).first()
    if prev is None:
        raise GenerationsError(f"generation {generation.pk} has no generation before it")
    return prev


# --- writing into a pending generation -------------------------------------------------------------------


def end_in(row: Area | Cell, generation: Generation) -> None:
    """Make `row` absent from `generation` on: a row born in it is deleted (it was never in use), any other
    ends at the generation before."""
    if row.generation_low_id == generation.pk:
        if isinstance(row, Cell):
            LatticeSquare.objects.filter(cell_id=row.pk).delete()
        row.delete()
        return
    type(row).objects.filter(pk=row.pk).update(generation_high_id=previous_id(generation))


def _copy_lattice_squares(old_id: int, new_id: int) -> None:
    with connection.cursor() as cur:
        cur.execute("""INSERT INTO grids_latticesquare (lattice_id, i, j, key, cell_id, active)
                       SELECT lattice_id, i, j, key, %s, false FROM grids_latticesquare WHERE cell_id = %s""",
                    [new_id, old_id])


def copy_cell(old: Cell, generation: Generation, **changes) -> Cell:
    """A new row of `old` starting in `generation` (with its inspectors, bureaus and lattice squares); a row
    born in that generation is changed in place."""
    if old.generation_low_id == generation.pk:
        for name, value in changes.items():
            setattr(old, name, value)
        old.save()
        return old
    inspectors, bureaus = list(old.inspectors.all()), list(old.bureaus.all())
    end_in(old, generation)  # first: a code has one open-ended row
    new = Cell(code=old.code, community_id=old.community_id, geom=old.geom, generation_low=generation,
               is_current=False)
    for name, value in changes.items():
        setattr(new, name, value)
    new.save()
    new.inspectors.set(inspectors)
    new.bureaus.set(bureaus)
    _copy_lattice_squares(old.pk, new.pk)
    return new


def supersede_area(old: Area, generation: Generation, *, name: str, geom, parent: Area | None,
                   report: "Changes | None" = None) -> Area:
    """Give `old` a new row in the pending `generation` (its bureaus kept) and carry everything below it
    over to the new row: child areas get new rows under it, and cells new rows pointing at it — unless
    the community's boundary moved, when its cells end (they no longer tile it: re-grid it)."""
    moved = not old.geom.equals_exact(geom, tolerance=0)
    if old.generation_low_id == generation.pk:  # born in this pending generation: change it in place
        old.name, old.geom, old.parent = name, geom, parent
        old.save()
        new = old
    else:
        end_in(old, generation)  # first: a code has one open-ended row
        new = Area(level=old.level, code=old.code, name=name, geom=geom, parent=parent,
                   generation_low=generation, is_current=False)
        new.save()
        new.bureaus.set(old.bureaus.all())
    for child in Area.objects.in_generation(generation).filter(parent=old).exclude(pk=new.pk):
        supersede_area(child, generation, name=child.name, geom=child.geom, parent=new, report=report)
    if new.pk != old.pk:
        for cell in Cell.objects.in_generation(generation).filter(Q(community=old) | Q(street=old) | Q(district=old)):
            if moved and cell.community_id == old.pk:
                end_in(cell, generation)
                if report is not None:
                    report.cells_ended.add(old.code)
            else:
                copy_cell(cell, generation, community_id=new.pk if cell.community_id == old.pk else cell.community_id)
    return new


@dataclass
class Changes:
    """What an import or re-gridding wrote into a pending generation."""

    generation: Generation
    cells_ended: set[str] = field(default_factory=set)  # communities whose boundary moved: re-grid them


@transaction.atomic
def discard(generation: Generation) -> dict[str, int]:
    """Throw a pending generation away: its own rows go, the rows it ended are open again."""
    generation = Generation.objects.select_for_update().get(pk=generation.pk)
    if generation.active or generation.pk < active_generation().pk:
        raise GenerationsError(f"generation {generation.pk} is not pending: only a generation newer than the "
                               "active one can be discarded")
    if Generation.objects.filter(pk__gt=generation.pk).exists():
        raise GenerationsError(f"generation {generation.pk} is not the newest")
    prev = previous_id(generation)
    cells = Cell.objects.filter(generation_low=generation)
    LatticeSquare.objects.filter(cell__in=cells).delete()
    counts = {"cells": cells.delete()[1].get("grids.Cell", 0), "areas": 0}
    for level in sorted({lv for lv in Area.objects.filter(generation_low=generation).values_list("level", flat=True)},
                        reverse=True):  # children before their parents
        counts["areas"] += Area.objects.filter(generation_low=generation, level=level).delete()[1].get("grids.Area", 0)
    counts["reopened"] = (Area.objects.filter(generation_high=prev).update(generation_high=None)
                          + Cell.objects.filter(generation_high=prev).update(generation_high=None))
    generation.delete()
    # A lattice only the discarded cells were cut from would cost every located point one more probe.
    Lattice.objects.filter(squares__isnull=True).delete()
    return counts


# --- comparing and activating ----------------------------------------------------------------------------


@dataclass
class AreaChange:
    level: int
    code: str
    name: str
    what: str  # added, removed, moved, renamed, reparented
    detail: str = ""


@dataclass
class Diff:
    base: int
    target: int
    areas: list[AreaChange] = field(default_factory=list)
    cells_added: dict[str, int] = field(default_factory=dict)  # community code → cells
    cells_removed: dict[str, int] = field(default_factory=dict)
    cells_reshaped: dict[str, int] = field(default_factory=dict)  # the same code, another shape

    def lines(self) -> list[str]:
        out = [f"generation {self.target} against {self.base}:"]
        for c in self.areas:
            out.append(f"  {c.what:<10} {c.code} {c.name}{'  ' + c.detail if c.detail else ''}")
        for code in sorted(set(self.cells_added) | set(self.cells_removed) | set(self.cells_reshaped)):
            out.append(f"  cells      {code}: {self.cells_removed.get(code, 0)} removed, "
                       f"{self.cells_added.get(code, 0)} added, {self.cells_reshaped.get(code, 0)} reshaped")
        if len(out) == 1:
            out.append("  no change")
        return out


_DIFF_SQL = """
WITH b AS (SELECT * FROM grids_area WHERE generation_low_id <= %(base)s
                  AND (generation_high_id IS NULL OR generation_high_id >= %(base)s)),
     t AS (SELECT * FROM grids_area WHERE generation_low_id <= %(target)s
                  AND (generation_high_id IS NULL OR generation_high_id >= %(target)s))
SELECT coalesce(t.level, b.level), coalesce(t.code, b.code), coalesce(t.name, b.name),
       b.id IS NULL, t.id IS NULL, b.name, t.name,
       (SELECT code FROM grids_area WHERE id = b.parent_id), (SELECT code FROM grids_area WHERE id = t.parent_id),
       CASE WHEN b.id IS NOT NULL AND t.id IS NOT NULL AND NOT ST_Equals(b.geom, t.geom) THEN
            ST_Area(ST_SymDifference(b.geom, t.geom)::geography) END,
       ST_Area(b.geom::geography), ST_Area(t.geom::geography)
FROM b FULL JOIN t ON t.code = b.code
WHERE b.id IS DISTINCT FROM t.id
ORDER BY 2
"""

_CELL_DIFF_SQL = """
WITH b AS (SELECT id, code, community_id, geom FROM grids_cell WHERE generation_low_id <= %(base)s
                  AND coalesce(generation_high_id, 2147483647) >= %(base)s),
     t AS (SELECT id, code, community_id, geom FROM grids_cell WHERE generation_low_id <= %(target)s
                  AND coalesce(generation_high_id, 2147483647) >= %(target)s)
SELECT coalesce(ta.code, ba.code), count(*) FILTER (WHERE b.id IS NULL), count(*) FILTER (WHERE t.id IS NULL),
       count(*) FILTER (WHERE b.id IS NOT NULL AND t.id IS NOT NULL AND NOT ST_Equals(b.geom, t.geom))
FROM b FULL JOIN t ON t.code = b.code
LEFT JOIN grids_area ba ON ba.id = b.community_id LEFT JOIN grids_area ta ON ta.id = t.community_id
WHERE b.id IS DISTINCT FROM t.id
GROUP BY 1
"""


def diff(target: Generation, base: Generation | None = None) -> Diff:
    """What `target` changes against `base` (default: the active generation): areas added, removed, moved
    (with the area of their symmetric difference), renamed or moved under another parent; per community, cells
    added, removed and reshaped (a code in both, another shape). A row carried over unchanged only because its
    parent got a new row is not listed."""
    base = base or active_generation()
    result = Diff(base.pk, target.pk)
    params = {"base": base.pk, "target": target.pk}
    with connection.cursor() as cur:
        cur.execute(_DIFF_SQL, params)
        for (level, code, name, added, removed, old_name, new_name, old_parent, new_parent, sym,
             old_m2, new_m2) in cur.fetchall():
            if added:
                result.areas.append(AreaChange(level, code, name, "added", f"{new_m2 / 1e6:.3f} km²"))
                continue
            if removed:
                result.areas.append(AreaChange(level, code, name, "removed", f"{old_m2 / 1e6:.3f} km²"))
                continue
            if sym is not None:
                result.areas.append(AreaChange(level, code, name, "moved",
                                               f"{old_m2 / 1e6:.3f} → {new_m2 / 1e6:.3f} km², "
                                               f"{sym:,.0f} m² changed hands"))
            if old_name != new_name:
                result.areas.append(AreaChange(level, code, name, "renamed", f"{old_name} → {new_name}"))
            if old_parent != new_parent:
                result.areas.append(AreaChange(level, code, name, "reparented", f"{old_parent} → {new_parent}"))
        cur.execute(_CELL_DIFF_SQL, params)
        for code, added, removed, reshaped in cur.fetchall():
            for counts, n in ((result.cells_added, added), (result.cells_removed, removed),
                              (result.cells_reshaped, reshaped)):
                if n:
                    counts[code] = n
    return result


# Foreign keys that mean "this place, now" (a user's district, a routing rule's area, a sensor's cell…), as
# opposed to history (a case's cell and areas, a tally's, a bulletin's): on activation they follow the row's
# successor. Registered by the apps that own them (their AppConfig.ready), so that grids names no app above it.
_LIVE_REFERENCES: set[tuple[str, str]] = {("grids.Bureau", "district")}


def register_live_reference(model_label: str, field_name: str) -> None:
    """Declare `model_label`'s foreign key `field_name` (to an area or a cell) live: activating a generation
    moves it to the successor of a row that leaves — an area's row of the same code, or the new cell holding
    the old cell's point on surface."""
    _LIVE_REFERENCES.add((model_label, field_name))


_SUCCESSOR_SQL = {
    # the same code in the new generation
    "area": """SELECT o.id, n.id FROM grids_area o JOIN grids_area n ON n.code = o.code
               WHERE o.is_current
                 AND NOT (o.generation_low_id <= %(g)s AND coalesce(o.generation_high_id, 2147483647) >= %(g)s)
                 AND n.generation_low_id <= %(g)s AND coalesce(n.generation_high_id, 2147483647) >= %(g)s""",
    # the new cell holding the old cell's point on surface (a re-gridded community's codes mean other squares)
    "cell": """SELECT o.id, (SELECT n.id FROM grids_cell n WHERE n.generation_low_id <= %(g)s
                              AND coalesce(n.generation_high_id, 2147483647) >= %(g)s
                              AND ST_Intersects(n.geom, ST_PointOnSurface(o.geom)) ORDER BY n.code LIMIT 1)
               FROM grids_cell o WHERE o.is_current
                 AND NOT (o.generation_low_id <= %(g)s AND coalesce(o.generation_high_id, 2147483647) >= %(g)s)""",
}


@transaction.atomic
def activate(generation: Generation) -> dict[str, int]:
    """Make `generation` the one in use: `is_current` and the active lattice squares follow it, and the
    registered live references move to the successors of rows that leave. Returns counts for the report."""
    generation = Generation.objects.select_for_update().get(pk=generation.pk)
    if generation.active:
        raise GenerationsError(f"generation {generation.pk} is already active")
    g = {"g": generation.pk}
    counts: dict[str, int] = {}
    with connection.cursor() as cur:
        successors: dict[str, dict[int, int]] = {}
        for kind, sql in _SUCCESSOR_SQL.items():
            cur.execute(sql, g)
            successors[kind] = {old: new for old, new in cur.fetchall() if new is not None}
        in_gen = "generation_low_id <= %(g)s AND coalesce(generation_high_id, 2147483647) >= %(g)s"
        for table in ("grids_area", "grids_cell"):
            # Rows leave before others enter: a code is current at most once (a unique index checked per row).
            cur.execute(f"UPDATE {table} SET is_current = false WHERE is_current AND NOT ({in_gen})", g)
            counts[table] = cur.rowcount
            cur.execute(f"UPDATE {table} SET is_current = true WHERE NOT is_current AND {in_gen}", g)
            counts[table] += cur.rowcount
        # Squares leave first: the unique key is only among active squares.
        cur.execute("""UPDATE grids_latticesquare s SET active = false FROM grids_cell c
                       WHERE c.id = s.cell_id AND s.active AND NOT c.is_current""")
        cur.execute("""UPDATE grids_latticesquare s SET active = true FROM grids_cell c
                       WHERE c.id = s.cell_id AND NOT s.active AND c.is_current""")
        counts["squares"] = cur.rowcount
    moved = 0
    for label, name in sorted(_LIVE_REFERENCES):
        model = django_apps.get_model(label)
        kind = "cell" if model._meta.get_field(name).related_model is Cell else "area"
        for old, new in successors[kind].items():
            moved += model._base_manager.filter(**{f"{name}_id": old}).update(**{f"{name}_id": new})
    counts["references"] = moved
    Generation.objects.filter(active=True).update(active=False)
    generation.active, generation.activated_at = True, timezone.now()
    generation.save(update_fields=["active", "activated_at"])
    return counts
