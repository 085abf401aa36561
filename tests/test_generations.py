"""Boundary generations (grids.generations): re-gridding one community or importing a moved boundary makes a
new generation; until it is activated nothing in use changes; afterwards old cases keep the cell and areas of
their time, new cases get the new ones, the evaluation over a period spanning the change counts each case
where it was, and the old generation stays queryable."""

import io
import json
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from dispatch.evaluation import evaluate
from grids import generations
from grids.locate import locate
from grids.models import Area, Cell, Generation, Lattice, LatticeSquare, Level
from incidents import intake
from incidents.models import Case, Source
from tests.conftest import api_client

A = "430302001001"


def _run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _report(lon: float, lat: float) -> Case:
    return intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source=Source.HOTLINE_12345)).case


def _point(community: Area) -> tuple[float, float]:
    p = Cell.objects.current().filter(community=community).order_by("code")[10].geom.point_on_surface
    return p.x, p.y


def test_existing_grid_is_generation_one_and_active(gridded):
    active = generations.active_generation()
    assert active.pk == 1 and active.active
    assert not Area.objects.exclude(generation_low=1).exists()
    assert not Cell.objects.filter(generation_high__isnull=False).exists()
    assert Cell.objects.current().count() == Cell.objects.count() > 0


def test_regridding_one_community_leaves_old_cases_where_they_were(people):
    a = people["a"]
    lon, lat = _point(a)
    old_case = _report(lon, lat)
    old_cell = Cell.objects.get(pk=old_case.cell_id)
    old_count = Cell.objects.current().filter(community=a).count()
    b_cells = set(Cell.objects.current().filter(community=people["b"]).values_list("pk", flat=True))

    out = _run("generate_cells", A, "--size", "70", "--new-generation", "和平社区 re-gridded at 70 m")
    pending = generations.pending_generation()
    assert pending is not None and not pending.active and f"activate_generation {pending.pk}" in out

    # Pending: nothing in use changed — locating, the API's lists.
    assert locate(lon, lat).cell_id == old_cell.pk
    diff = _run("show_generation")
    print(diff)  # the README quotes it
    new_count = Cell.objects.in_generation(pending).filter(community=a).count()
    assert new_count > old_count  # 70 m squares: more cells
    removed, added, reshaped = map(int, re.search(
        rf"cells      {A}: (\d+) removed, (\d+) added, (\d+) reshaped", diff).groups())
    assert removed + reshaped == old_count and added + reshaped == new_count and added > 0
    assert "430302001002" not in diff  # the other community: unchanged, not listed

    activated = _run("activate_generation", str(pending.pk))
    assert f"generation {pending.pk} is active" in activated

    # The old case keeps its cell (the row of its time, still there, no longer current) and its areas.
    old_case.refresh_from_db()
    assert old_case.cell_id == old_cell.pk and old_case.community_id == a.pk
    old_cell.refresh_from_db()
    assert (old_cell.generation_low_id, old_cell.generation_high_id, old_cell.is_current) == (1, 1, False)
    # Locating uses the new generation: the same point, a new cell of the same community.
    here = locate(lon, lat)
    assert here.cell_id != old_cell.pk
    new_cell = Cell.objects.get(pk=here.cell_id)
    assert new_cell.generation_low_id == pending.pk and new_cell.is_current and new_cell.community_id == a.pk
    new_case = _report(lon, lat)
    assert new_case.cell_id == new_cell.pk and new_case.community_id == a.pk
    # Only that community changed: the other's cells are the same rows, spanning both generations.
    assert set(Cell.objects.current().filter(community=people["b"]).values_list("pk", flat=True)) == b_cells
    # The inspector who walked the old cells walks the new ones.
    assert people["inspector"].inspected_cells.filter(pk=new_cell.pk).exists()
    # Lattice squares: only the active generation's answer by arithmetic.
    assert not LatticeSquare.objects.filter(cell=old_cell, active=True).exists()
    assert LatticeSquare.objects.filter(cell__community=a, cell__is_current=True, active=True).exists()
    # The open map services (OGC API – Features) serve the current generation: each code names one feature.
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT code) FROM ogc_cell WHERE community_code = %s", [A])
        assert cur.fetchone() == (new_count, new_count)
        cur.execute("SELECT count(*) FROM ogc_community WHERE code = %s", [A])
        assert cur.fetchone() == (1,)


def test_evaluation_over_a_span_counts_each_case_where_it_was(people):
    a = people["a"]
    start = timezone.now() - timedelta(hours=1)
    lon, lat = _point(a)
    before = [_report(lon, lat), _report(lon, lat)]
    _run("generate_cells", A, "--size", "70", "--new-generation")
    _run("activate_generation", str(generations.pending_generation().pk))
    after = _report(lon, lat)
    end = timezone.now() + timedelta(hours=1)

    by_cell = {f.key: f.reported for f in evaluate("cell", start, end)}
    assert by_cell == {before[0].cell_id: 2, after.cell_id: 1}
    old, new = Cell.objects.get(pk=before[0].cell_id), Cell.objects.get(pk=after.cell_id)
    assert not old.is_current and new.is_current
    # The areas above did not change: the street counts all three, once.
    by_street = {f.code: f.reported for f in evaluate("street", start, end)}
    assert by_street == {"430302001": 3}


def _geojson(tmp_path, features) -> str:
    path = tmp_path / "communities.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code, "name": name},
         "geometry": {"type": "Polygon", "coordinates": [coords]}} for code, name, coords in features]}))
    return str(path)


def _ring(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def test_imported_boundaries_make_a_generation_and_the_diff_lists_them(people, tmp_path):
    a, street = people["a"], people["street"]
    lon, lat = _point(a)
    old_case = _report(lon, lat)
    # 和平社区 grows east by 0.002°, a new community appears, 建设社区 is renamed.
    b = people["b"]
    b_ring = [list(p) for p in b.geom[0].exterior_ring.coords]
    path = _geojson(tmp_path, [
        (A, "和平社区", _ring(112.880, 27.880, 112.8902, 27.886)),
        ("430302001002", "建设新村", b_ring),
        ("430302001003", "新建社区", _ring(112.860, 27.860, 112.870, 27.870)),
    ])
    out = _run("import_areas", path, "--level", "community", "--new-generation", "2026 community boundaries")
    assert "1 created, 2 updated" in out and f"generate_cells {A} --new-generation" in out
    gen = generations.pending_generation()
    diff = _run("show_generation", str(gen.pk))
    print(diff)  # the README quotes it
    assert "added      430302001003 新建社区" in diff
    assert f"moved      {A} 和平社区" in diff and "m² changed hands" in diff
    assert "renamed    430302001002 建设新村  建设社区 → 建设新村" in diff
    assert re.search(rf"cells      {A}: \d+ removed, 0 added, 0 reshaped", diff)  # its boundary moved: cells end
    assert "cells      430302001002" not in diff  # renamed: its cells carried over unchanged
    # The renamed community keeps its cells: new rows, same squares, pointing at its new row.
    new_b = Area.objects.in_generation(gen).get(code="430302001002")
    assert new_b.pk != b.pk
    assert Cell.objects.in_generation(gen).filter(community=new_b).count() == b.cells.count()

    # Removing a community: a street file without it, re-imported, is not how removal works; the diff shows
    # the removal of areas when a whole subtree is ended. Re-grid the moved community and activate.
    _run("generate_cells", A, "--new-generation")
    _run("activate_generation", str(gen.pk))
    new_a = Area.objects.current().get(code=A)
    assert new_a.pk != a.pk and new_a.parent_id == street.pk  # the street did not change
    assert locate(lon, lat).areas["community"].id == new_a.pk
    assert locate(112.8901, 27.883).areas["community"].code == A  # the strip it gained
    assert locate(112.865, 27.865).areas["community"].code == "430302001003"  # no cells: the area answers
    old_case.refresh_from_db()
    assert old_case.community_id == a.pk  # the row of its time
    # The old generation stays queryable through the API.
    client = api_client(people["dispatcher"])
    now = client.get("/api/grids/areas/", {"level": "community"}).json()
    then = client.get("/api/grids/areas/", {"level": "community", "generation": 1}).json()
    assert [f["id"] for f in now["features"]] == [A, "430302001002", "430302001003"]
    assert [f["properties"]["name"] for f in then["features"]] == ["和平社区", "建设社区"]
    detail_then = client.get(f"/api/grids/areas/{'430302001002'}/", {"generation": 1}).json()
    assert detail_then["properties"]["name"] == "建设社区"
    assert client.get("/api/grids/areas/430302001003/", {"generation": 1}).status_code == 404
    cells_then = client.get("/api/grids/cells/", {"area": A, "generation": 1, "page_size": 2000}).json()
    assert cells_then["count"] == Cell.objects.in_generation(1).filter(community=a).count()
    listed = client.get("/api/grids/generations/").json()
    assert [(g["id"], g["active"]) for g in listed] == [(1, False), (gen.pk, True)]
    bad = client.get("/api/grids/cells/", {"generation": 99})
    assert bad.status_code == 400 and "generation" in bad.json()


def test_nothing_pending_and_unchanged_import_change_nothing(gridded, tmp_path):
    a = gridded["a"]
    path = _geojson(tmp_path, [(A, "和平社区", [list(p) for p in a.geom[0].exterior_ring.coords])])
    out = _run("import_areas", path, "--level", "community", "--new-generation")
    assert "0 created, 0 updated" in out and "1 unchanged" in out
    assert "no change" in _run("show_generation")
    with pytest.raises(CommandError, match="already active"):
        call_command("activate_generation", "1")
    with pytest.raises(CommandError, match="no generation 42"):
        call_command("activate_generation", "42")
    with pytest.raises(CommandError, match="name them by code"):
        call_command("generate_cells", "--new-generation")


def test_a_code_repeats_across_generations_never_within_one(gridded):
    gen = Generation.objects.create(description="test")
    a = gridded["a"]
    with transaction.atomic(), pytest.raises(IntegrityError):  # two open-ended rows of one code
        Area.objects.create(level=Level.COMMUNITY, code=A, name="x", parent=gridded["street"], geom=a.geom,
                            generation_low=gen, is_current=False)
    generations.supersede_area(a, gen, name="和平社区", geom=a.geom, parent=gridded["street"])
    assert Area.objects.filter(code=A).count() == 2
    assert Area.objects.in_generation(1).get(code=A).pk == a.pk
    assert Area.objects.in_generation(gen).get(code=A).pk != a.pk


def test_activation_moves_live_references_and_going_back_works(people):
    """A dispatcher's district and a routing rule's cell follow their successors; an older generation may be
    activated again."""
    from dispatch.models import RoutingRule
    from incidents.models import Category

    a = people["a"]
    lon, lat = _point(a)
    old_cell = Cell.objects.get(pk=locate(lon, lat).cell_id)
    rule = RoutingRule.objects.create(category=Category.objects.get(code="SJ0601"), cell=old_cell,
                                      bureau=people["cg"])
    _run("generate_cells", A, "--size", "70", "--new-generation")
    gen = generations.pending_generation()
    _run("activate_generation", str(gen.pk))
    rule.refresh_from_db()
    assert rule.cell_id == locate(lon, lat).cell_id != old_cell.pk
    _run("activate_generation", "1")  # back to the first generation
    assert locate(lon, lat).cell_id == old_cell.pk
    rule.refresh_from_db()
    assert rule.cell_id == old_cell.pk


def test_a_pending_generation_can_be_discarded(people):
    a = people["a"]
    before = set(Cell.objects.in_generation(1).values_list("pk", flat=True))
    lattices = Lattice.objects.count()
    _run("generate_cells", A, "--size", "70", "--new-generation")
    assert Lattice.objects.count() == lattices + 1
    gen = generations.pending_generation()
    with pytest.raises(CommandError, match="not pending"):
        call_command("discard_generation", "1")
    out = _run("discard_generation", str(gen.pk))
    assert "rows open again" in out and generations.pending_generation() is None
    assert set(Cell.objects.filter(community=a, generation_high__isnull=True).values_list("pk", flat=True)) \
        == set(Cell.objects.filter(community=a).values_list("pk", flat=True))
    assert set(Cell.objects.in_generation(1).values_list("pk", flat=True)) == before
    assert not Generation.objects.filter(pk=gen.pk).exists()
    assert Lattice.objects.count() == lattices  # the 70 m lattice went with its cells


def test_the_admin_shows_history_read_only(client, people):
    from django.contrib.auth.models import User
    from django.urls import reverse

    a = people["a"]
    _run("generate_cells", A, "--size", "70", "--new-generation")
    _run("activate_generation", str(generations.pending_generation().pk))
    old = Cell.objects.filter(community=a, is_current=False).first()
    new = Cell.objects.filter(community=a, is_current=True).first()
    client.force_login(User.objects.create_superuser("root", password="Correct-horse-42"))
    page = client.get(reverse("admin:grids_cell_change", args=[old.pk]))
    assert page.status_code == 200 and 'name="inspectors"' not in page.content.decode()
    assert client.post(reverse("admin:grids_cell_delete", args=[old.pk]), {"post": "yes"}).status_code == 403
    page = client.get(reverse("admin:grids_cell_change", args=[new.pk]))
    assert page.status_code == 200 and 'name="inspectors"' in page.content.decode()
    assert client.get(reverse("admin:grids_generation_changelist")).status_code == 200
    assert client.get(reverse("admin:grids_area_add")).status_code == 200


def test_a_district_whose_boundary_moves_keeps_its_cases_for_its_staff(people, tmp_path):
    """A district's boundary imported anew makes a new row for it; its staff move to the new row, its old cases keep
    the old one (history never moves) — and the district's dispatcher still sees them, acts on them and counts
    them in the dashboard and the evaluation, as the district's, not as another's."""
    from django.db import connection

    from citygrid import roles
    from dispatch.dashboard import Filter
    from incidents import lifecycle
    from incidents.scoping import visible_cases
    from tests.conftest import make_user

    west = people["west"]
    dispatcher = make_user("disp_west", roles.DISPATCHER, district=west)
    lon, lat = _point(people["a"])
    old_case = _report(lon, lat)
    assert old_case.district_id == west.pk
    path = _geojson(tmp_path, [("430302", "雨湖区", _ring(112.81, 27.80, 112.90, 27.90))])  # a strip given up
    _run("import_areas", path, "--level", "district", "--new-generation", "雨湖区 boundary")
    _run("activate_generation", str(generations.pending_generation().pk))
    new_west = Area.objects.current().get(code="430302", level=Level.DISTRICT)
    dispatcher.refresh_from_db()
    assert new_west.pk != west.pk and dispatcher.profile.district_id == new_west.pk  # staff follow the new row
    old_case.refresh_from_db()
    assert old_case.district_id == west.pk  # the case keeps the district of its time
    new_case = _report(lon, lat)
    assert new_case.district_id == new_west.pk
    assert set(visible_cases(dispatcher).values_list("pk", flat=True)) == {old_case.pk, new_case.pk}
    assert not visible_cases(people["east_dispatcher"]).filter(pk=old_case.pk).exists()
    response = api_client(dispatcher).get(f"/api/cases/{old_case.number}/")
    assert response.status_code == 200
    lifecycle.register(old_case, dispatcher)  # acting on it: not "outside your district"
    today = timezone.localdate()
    where, params = Filter(today - timedelta(days=1), today + timedelta(days=1)).where(dispatcher)
    with connection.cursor() as cur:  # the dashboard's scope over the cases
        cur.execute(f"SELECT count(*) FROM incidents_case c WHERE {where}", params)
        assert cur.fetchone()[0] == 2
    rows = evaluate("district", timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=1),
                    district_id=new_west.pk)
    assert sum(r.counts["reported"] for r in rows) == 2  # both rows of the district, each case where it was
    # An incident in the strip the district gave up is not the district's (its staff see incidents by every row
    # of their district, so the districts an area touches are the current ones).
    from django.contrib.gis.geos import MultiPolygon, Polygon

    from emergency.command import touched_districts

    strip = MultiPolygon(Polygon.from_bbox((112.801, 27.85, 112.805, 27.86)), srid=4326)
    inside = MultiPolygon(Polygon.from_bbox((112.85, 27.85, 112.86, 27.86)), srid=4326)
    assert touched_districts(strip) == [] and touched_districts(inside) == [new_west.pk]
