"""Importing a census from a GIS file in another CRS (all or nothing, --update recorded) and exporting it as
GeoPackage and CSV, back in unchanged — on real PostGIS and GDAL."""

import csv
import json
import subprocess

import pytest
from django.contrib.gis.gdal import DataSource
from django.core.management import CommandError, call_command

from assets import codes
from assets.importing import import_components
from assets.models import Component
from grids.importing import ImportFailed
from tests.conftest import point_in


def _geojson(tmp_path, features, name="census.geojson"):
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(xy)}, "properties": props}
        for xy, props in features]}, ensure_ascii=False))
    return path


def _projected(tmp_path, source, srid=4547):
    """The same features as a GeoPackage in a projected CGCS2000 CRS (3° Gauss-Krüger, 114°E)."""
    out = tmp_path / "census.gpkg"
    subprocess.run(["ogr2ogr", "-f", "GPKG", "-t_srs", f"EPSG:{srid}", str(out), str(source)], check=True)
    return out


@pytest.fixture
def census_file(people, tmp_path):
    lon, lat = point_in(people["a"])
    features = [((lon + i * 0.0001, lat), {"BJBM": codes.make_code("430302", "BJ0108", i + 1), "subclass": "BJ0108",
                                           "name": f"消防栓{i + 1}", "status": "完好" if i else "破损",
                                           "accuracy": "A", "bureau": people["cg"].code,
                                           "survey_date": "2026-03-0" + str(i + 1)}) for i in range(3)]
    return _projected(tmp_path, _geojson(tmp_path, features))


def test_import_from_a_projected_geopackage_located_and_recorded(people, census_file):
    report = import_components(census_file, mapping={"code": "BJBM"})
    assert (report.read, report.created, report.updated) == (3, 3, 0)
    first = Component.objects.get(code=codes.make_code("430302", "BJ0108", 1))
    lon, lat = point_in(people["a"])
    assert abs(first.geom.x - lon) < 1e-6 and abs(first.geom.y - lat) < 1e-6  # back from EPSG:4547
    assert first.status == "damaged" and first.bureau == people["cg"] and first.community == people["a"]
    assert str(first.survey_date) == "2026-03-01" and first.log.get().action == "import"
    with pytest.raises(ImportFailed, match="already exist"):
        import_components(census_file, mapping={"code": "BJBM"})
    again = import_components(census_file, mapping={"code": "BJBM"}, update=True)
    assert (again.created, again.updated) == (0, 0)  # nothing changed, nothing recorded
    assert first.log.count() == 1


def test_one_bad_feature_imports_nothing(people, tmp_path):
    lon, lat = point_in(people["a"])
    east_lon, east_lat = people["east"].geom.point_on_surface.coords
    good = {"code": codes.make_code("430302", "BJ0109", 1), "subclass": "BJ0109"}
    path = _geojson(tmp_path, [
        ((lon, lat), good),
        ((lon, lat), {"code": "4303020109000002", "subclass": "BJ0108"}),  # code of another subclass
        ((lon, lat), {"code": "4303020109000003", "subclass": "BJ0109", "status": "坏了"}),
        ((east_lon, east_lat), {"code": "4303020109000004", "subclass": "BJ0109"}),  # in the other county
        ((lon, lat), good),  # duplicate
        ((100.0, 20.0), {"code": "4303020109000005", "subclass": "BJ0109"}),
    ])
    from django.utils import translation

    with translation.override("en"), pytest.raises(ImportFailed) as exc:  # the messages in English, whatever ran before
        import_components(path)
    problems = {p.index: p.message for p in exc.value.report.rejected}
    assert set(problems) == {2, 3, 4, 5, 6}, problems
    assert "class and subclass" in problems[2] and "坏了" in problems[3] and "not the county" in problems[4]
    assert "earlier in the file" in problems[5] and "jurisdiction" in problems[6]
    assert not Component.objects.exists()
    with pytest.raises(CommandError, match="5 of 6 features rejected; nothing imported"):
        call_command("import_components", str(path), verbosity=0)
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_components", str(tmp_path / "nope.gpkg"), verbosity=0)


def test_update_records_the_changes(people, census_file, tmp_path):
    import_components(census_file, mapping={"code": "BJBM"})
    lon, lat = point_in(people["a"])
    code = codes.make_code("430302", "BJ0108", 1)
    changed = _geojson(tmp_path, [((lon, lat), {"code": code, "subclass": "BJ0108", "status": "丢失",
                                                "name": "消防栓1", "accuracy": "A", "bureau": people["cg"].code,
                                                "survey_date": "2026-03-01"})], "changed.geojson")
    report = import_components(changed, update=True)
    assert report.updated == 1
    entry = Component.objects.get(code=code).log.latest("id")
    assert entry.action == "import" and entry.changes == {"status": ["damaged", "missing"]}


def test_export_geopackage_and_csv_and_back(people, census_file, tmp_path):
    import_components(census_file, mapping={"code": "BJBM"})
    gpkg, table = tmp_path / "out.gpkg", tmp_path / "out.csv"
    call_command("export_components", str(gpkg), verbosity=0)
    call_command("export_components", str(table), district="430302", verbosity=0)
    layer = DataSource(str(gpkg))[0]
    assert len(layer) == 3 and {"code", "subclass", "status", "bureau", "cell"} <= set(layer.fields)
    assert layer.srs.srid == 4326
    rows = list(csv.DictReader(table.open(encoding="utf-8-sig")))
    assert [r["code"] for r in rows] == sorted(Component.objects.values_list("code", flat=True))
    assert rows[0]["status"] == "damaged" and rows[0]["wkt"].startswith("POINT")
    assert import_components(gpkg, update=True).updated == 0  # what was exported reads back unchanged
    with pytest.raises(CommandError, match="gpkg or .csv"):
        call_command("export_components", str(tmp_path / "out.shp"), verbosity=0)


def test_a_census_without_bureaus_names_or_dates(people, tmp_path):
    """Empty optional fields are stored as such (NULL for a bureau or a date, '' for text), not refused."""
    lon, lat = point_in(people["a"])
    path = _geojson(tmp_path, [((lon, lat), {"code": codes.make_code("430302", "BJ0302", 1), "subclass": "BJ0302"}),
                               ((lon, lat), {"code": codes.make_code("430302", "BJ0302", 2), "subclass": "BJ0302",
                                             "name": 'the "big" bin, 2'})])
    assert import_components(path).created == 2
    first, second = Component.objects.order_by("code")
    assert first.bureau is None and first.survey_date is None and first.name == "" and first.owner == ""
    assert second.name == 'the "big" bin, 2' and first.log.get().action == "import"
