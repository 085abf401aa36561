import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from grids.generation import GenerationError, generate_cells
from grids.models import Cell, LatticeSquare

METRIC = 4547  # CGCS2000 3° Gauss-Krüger CM 114°E, the zone of Xiangtan


def _one(sql, params=()):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def tiling_figures(community):
    """(community area, union of cells area, symmetric difference area, sum of cell areas) in m²."""
    return _one(
        f"""
        WITH cells AS (SELECT ST_Transform(geom, {METRIC}) g FROM grids_cell WHERE community_id = %s),
             comm AS (SELECT ST_Transform(geom, {METRIC}) g FROM grids_area WHERE id = %s),
             u AS (SELECT ST_Union(g) g FROM cells)
        SELECT ST_Area(comm.g), ST_Area(u.g), ST_Area(ST_SymDifference(u.g, comm.g)),
               (SELECT sum(ST_Area(g)) FROM cells)
        FROM comm, u
        """,
        [community.pk, community.pk],
    )


@pytest.mark.parametrize("key", ["a", "b"])
def test_cells_tile_the_community_without_gaps_or_overlaps(city, key):
    community = city[key]
    result = generate_cells(community, size=100)
    assert result.cells > 20
    whole, union, symdiff, total = tiling_figures(community)
    assert union == pytest.approx(whole, rel=1e-9)
    assert symdiff < 1e-3  # m²: float noise only
    assert total == pytest.approx(union, rel=1e-9)  # the sum equals the union: nothing counted twice
    overlap = _one(
        f"""SELECT coalesce(sum(ST_Area(ST_Intersection(ST_Transform(x.geom, {METRIC}),
                                                        ST_Transform(y.geom, {METRIC})))), 0)
            FROM grids_cell x JOIN grids_cell y ON x.id < y.id AND ST_Intersects(x.geom, y.geom)
            WHERE x.community_id = %s AND y.community_id = %s""",
        [community.pk, community.pk],
    )[0]
    assert overlap < 1e-3


def test_cell_areas_are_about_a_hectare(city):
    generate_cells(city["b"], size=100, min_fraction=0.3)
    with connection.cursor() as cur:
        cur.execute("SELECT ST_Area(geom::geography) FROM grids_cell WHERE community_id = %s", [city["b"].pk])
        areas = [a for (a,) in cur.fetchall()]
    inner = [a for a in areas if abs(a - 10_000) < 50]
    assert len(inner) >= len(areas) // 3, "most cells away from the boundary are whole squares"
    assert min(areas) >= 0.3 * 10_000 * 0.99, "slivers are merged into neighbours"
    assert max(areas) <= 2.0 * 10_000


def test_codes_run_west_to_east_then_north_to_south(city):
    generate_cells(city["a"], size=100)
    cells = list(Cell.objects.filter(community=city["a"]).order_by("code"))
    assert [c.code for c in cells] == [f"430302001001{n:03d}" for n in range(1, len(cells) + 1)]
    centres = [(c.geom.centroid.x, c.geom.centroid.y) for c in cells]
    rows: list[list[tuple[float, float]]] = []
    for x, y in centres:
        if rows and abs(rows[-1][0][1] - y) < 0.0006:
            rows[-1].append((x, y))
        else:
            rows.append([(x, y)])
    assert len(rows) >= 5
    for row in rows:
        assert [x for x, _ in row] == sorted(x for x, _ in row), "west → east within a row"
    row_y = [sum(y for _, y in row) / len(row) for row in rows]
    assert row_y == sorted(row_y, reverse=True), "rows north → south"


def test_whole_squares_are_recorded_for_fast_lookup(city):
    generate_cells(city["a"], size=100)
    squares = LatticeSquare.objects.filter(cell__community=city["a"]).count()
    assert 0 < squares < Cell.objects.filter(community=city["a"]).count() + 1


def test_existing_cells_kept_unless_replace(city):
    first = generate_cells(city["a"], size=100)
    again = generate_cells(city["a"], size=100)
    assert again.skipped and Cell.objects.filter(community=city["a"]).count() == first.cells
    bigger = generate_cells(city["a"], size=200, replace=True)
    assert bigger.cells < first.cells
    assert Cell.objects.filter(community=city["a"]).count() == bigger.cells


def test_too_many_cells_for_the_code_width_is_refused(city):
    with pytest.raises(GenerationError, match="3-digit"):
        generate_cells(city["a"], size=10)
    assert not Cell.objects.exists()


def test_command_generates_for_a_street_and_reports_bad_codes(city, capsys):
    call_command("generate_cells", "430302001", "--size", "150")
    assert Cell.objects.filter(community__in=[city["a"], city["b"]]).values("community").distinct().count() == 2
    with pytest.raises(CommandError, match="no area with code 999"):
        call_command("generate_cells", "999")
