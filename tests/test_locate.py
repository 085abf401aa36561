import random

import pytest
from django.contrib.gis.geos import MultiPolygon
from django.db import connection

from grids import locate as locating
from grids.importing import import_areas
from grids.models import Cell, LatticeSquare


def truth(lon, lat):
    """Ground truth by brute force: the lowest code among cells that intersect the point."""
    with connection.cursor() as cur:
        cur.execute("SELECT code FROM grids_cell WHERE ST_Intersects(geom, ST_SetSRID(ST_Point(%s, %s), 4326)) "
                    "ORDER BY code LIMIT 1", [lon, lat])
        row = cur.fetchone()
    return row[0] if row else None


def test_inside_a_cell_gives_the_whole_hierarchy(gridded):
    cell = Cell.objects.filter(community=gridded["a"]).order_by("code")[20]
    centre = cell.geom.point_on_surface
    location = locating.locate(centre.x, centre.y)
    assert location.cell_code == cell.code
    assert {k: v.code for k, v in location.areas.items()} == {
        "community": "430302001001", "street": "430302001", "district": "430302", "city": "430300"}
    assert location.areas["district"].name == "雨湖区"


def test_a_point_on_a_border_belongs_to_one_of_the_cells(gridded):
    with connection.cursor() as cur:
        # A vertex that two neighbouring cells of community A share exactly.
        cur.execute("""SELECT x.code, y.code, ST_X(px.geom), ST_Y(px.geom)
                       FROM grids_cell x JOIN grids_cell y ON x.code < y.code AND x.geom && y.geom,
                       LATERAL ST_DumpPoints(x.geom) px, LATERAL ST_DumpPoints(y.geom) py
                       WHERE x.community_id = %s AND y.community_id = %s AND ST_Equals(px.geom, py.geom)
                       ORDER BY x.code, y.code LIMIT 1""", [gridded["a"].pk, gridded["a"].pk])
        low, high, lon, lat = cur.fetchone()
    with connection.cursor() as cur:
        cur.execute("SELECT code FROM grids_cell WHERE ST_Intersects(geom, ST_SetSRID(ST_Point(%s, %s), 4326))",
                    [lon, lat])
        holders = {code for (code,) in cur.fetchall()}
    assert {low, high} <= holders  # the point really lies on both (a corner may touch more)
    answer = locating.locate(lon, lat).cell_code
    assert answer in holders
    assert [r.cell_code for r in locating.locate_many([(lon, lat)] * 3)] == [answer] * 3


def test_outside_the_city(gridded):
    with pytest.raises(locating.OutsideJurisdiction):
        locating.locate(116.40, 39.90)  # Beijing
    assert locating.locate_many([(116.40, 39.90)]) == [None]
    # Far outside the lattice's projection (found by the schema fuzzing: it used to fail in ST_Transform).
    assert locating.locate_many([(30.21, -3.19e-117), (-179.9, 89.9), (180, -90)]) == [None, None, None]


def test_inside_the_city_but_in_no_cell_gives_the_deepest_area(gridded):
    location = locating.locate(112.95, 27.85)  # the east district has no streets
    assert location.cell_code is None
    assert location.areas["district"].code == "430304"
    assert "community" not in location.areas


def test_batch_agrees_with_brute_force_everywhere(gridded):
    rnd = random.Random(3)
    # Points over both communities and around them, including their boundaries' neighbourhood.
    points = [(rnd.uniform(112.879, 112.9005), rnd.uniform(27.8795, 27.8900)) for _ in range(3000)]
    results = locating.locate_many(points)
    mismatches = [(p, r and r.cell_code, truth(*p)) for p, r in zip(points, results, strict=True)
                  if (r.cell_code if r else None) != truth(*p)]
    # Only points exactly on a shared edge may differ between two valid answers; random floats never are.
    assert mismatches == []
    assert sum(1 for r in results if r and r.cell_code) > 1200


def test_cells_without_lattice_are_found_geometrically(gridded, tmp_path):
    LatticeSquare.objects.all().delete()
    cell = Cell.objects.filter(community=gridded["b"]).order_by("code")[5]
    p = cell.geom.point_on_surface
    assert locating.locate(p.x, p.y).cell_code == cell.code


def test_reshaped_cell_drops_its_lattice_squares(gridded):
    cell = Cell.objects.filter(community=gridded["a"], lattice_squares__isnull=False).first()
    assert cell.lattice_squares.exists()
    cell.geom = MultiPolygon(cell.geom.buffer(-0.0001), srid=4326)
    cell.save()
    assert not cell.lattice_squares.exists()


def test_imported_cells_are_located(city, tmp_path):
    path = tmp_path / "cells.geojson"
    path.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"001"},'
                    '"geometry":{"type":"Polygon","coordinates":[[[112.880,27.880],[112.885,27.880],'
                    '[112.885,27.883],[112.880,27.883],[112.880,27.880]]]}}]}')
    import_areas(path, "cell", parent_code="430302001001")
    assert locating.locate(112.882, 27.881).cell_code == "430302001001001"


def test_bad_points_are_refused():
    with pytest.raises(ValueError):
        locating.locate_many([(200.0, 10.0)])
