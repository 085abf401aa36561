import json
import shutil
import subprocess

import pytest
from django.core.management import CommandError, call_command

from grids import gcj02
from grids.importing import ImportFailed, import_areas
from grids.models import Area, Level

STREET_A = [[112.85, 27.85], [112.87, 27.85], [112.87, 27.87], [112.85, 27.87], [112.85, 27.85]]
STREET_B = [[112.87, 27.85], [112.89, 27.85], [112.89, 27.87], [112.87, 27.87], [112.87, 27.85]]
BOWTIE = [[112.85, 27.87], [112.87, 27.89], [112.87, 27.87], [112.85, 27.89], [112.85, 27.87]]


def feature(code, name, ring, **props):
    return {"type": "Feature", "properties": {"code": code, "name": name, **props},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def write_geojson(path, *features, crs=None):
    data = {"type": "FeatureCollection", "features": list(features)}
    if crs:
        data["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def ogr2ogr(*args):
    assert shutil.which("ogr2ogr"), "gdal-bin is installed by `make setup`"
    subprocess.run(["ogr2ogr", *args], check=True, capture_output=True)


def streets():
    return Area.objects.filter(level=Level.STREET).order_by("code")


def test_good_geojson_imports_every_feature(city, tmp_path):
    path = write_geojson(tmp_path / "s.geojson", feature("430302002", "雨湖路街道", STREET_A),
                         feature("430302003", "云塘街道", STREET_B))
    report = import_areas(path, "street")
    assert (report.created, report.rejected) == (2, [])
    s = Area.objects.get(code="430302003")
    assert (s.name, s.parent, s.level) == ("云塘街道", city["west"], Level.STREET)
    assert s.geom.extent == pytest.approx((112.87, 27.85, 112.89, 27.87))


@pytest.mark.parametrize(("driver", "suffix", "srid"), [("GPKG", "gpkg", 4547), ("ESRI Shapefile", "shp", 4490)])
def test_other_formats_and_crs_are_transformed_to_wgs84(city, tmp_path, driver, suffix, srid):
    src = write_geojson(tmp_path / "s.geojson", feature("430302002", "雨湖路街道", STREET_A))
    out = tmp_path / f"s.{suffix}"
    ogr2ogr("-f", driver, "-t_srs", f"EPSG:{srid}", "-lco", "ENCODING=UTF-8", str(out), str(src)) if suffix == "shp" \
        else ogr2ogr("-f", driver, "-t_srs", f"EPSG:{srid}", str(out), str(src))
    import_areas(out, "street")
    stored = Area.objects.get(code="430302002")
    assert stored.name == "雨湖路街道"
    assert stored.geom.extent == pytest.approx((112.85, 27.85, 112.87, 27.87), abs=1e-6)


def test_a_file_without_crs_needs_srid(city, tmp_path):
    src = write_geojson(tmp_path / "s.geojson", feature("430302002", "雨湖路街道", STREET_A))
    shp = tmp_path / "s.shp"
    ogr2ogr("-f", "ESRI Shapefile", "-t_srs", "EPSG:4547", "-lco", "ENCODING=UTF-8", str(shp), str(src))
    (tmp_path / "s.prj").unlink()
    with pytest.raises(ImportFailed, match="declares no coordinate reference system"):
        import_areas(shp, "street")
    import_areas(shp, "street", srid=4547)
    assert Area.objects.get(code="430302002").geom.extent == pytest.approx((112.85, 27.85, 112.87, 27.87), abs=1e-6)


def test_wrong_crs_is_rejected_and_nothing_imported(city, tmp_path):
    metres = [[x * 100000, y * 100000] for x, y in STREET_B]  # projected numbers in a file claiming WGS84
    path = write_geojson(tmp_path / "s.geojson", feature("430302002", "雨湖路街道", STREET_A),
                         feature("430302003", "云塘街道", metres))
    with pytest.raises(ImportFailed) as exc:
        import_areas(path, "street")
    assert "feature 2 (430302003 云塘街道)" in str(exc.value.report.rejected[0])
    assert "CRS is wrong" in exc.value.report.rejected[0].message
    assert not streets().exclude(code="430302001").exists()


def test_feature_outside_its_parent_is_rejected(city, tmp_path):
    beijing = [[116.3, 39.9], [116.4, 39.9], [116.4, 40.0], [116.3, 40.0], [116.3, 39.9]]
    path = write_geojson(tmp_path / "s.geojson", feature("430302002", "雨湖路街道", beijing))
    with pytest.raises(ImportFailed):
        import_areas(path, "street")


def test_invalid_geometry_is_repaired_and_reported(city, tmp_path):
    path = write_geojson(tmp_path / "s.geojson", feature("430302002", "雨湖路街道", BOWTIE))
    report = import_areas(path, "street")
    assert len(report.repaired) == 1 and "Self-intersection" in report.repaired[0].message
    stored = Area.objects.get(code="430302002")
    assert stored.geom.valid and len(stored.geom) == 2


def test_invalid_geometry_rejected_with_no_repair_imports_nothing(city, tmp_path):
    path = write_geojson(tmp_path / "s.geojson", feature("430302002", "雨湖路街道", STREET_A),
                         feature("430302003", "云塘街道", BOWTIE))
    with pytest.raises(ImportFailed) as exc:
        import_areas(path, "street", repair=False)
    problem = exc.value.report.rejected[0]
    assert (problem.index, problem.label) == (2, "430302003 云塘街道")
    assert "invalid geometry: Self-intersection" in problem.message
    assert not Area.objects.filter(code="430302002").exists()


@pytest.mark.parametrize("content", [b'{"type": "FeatureCollection", "features": [{"type": "Feat',
                                     b"\x00\x01garbage\xff" * 100])
def test_corrupt_file_imports_nothing(city, tmp_path, content):
    path = tmp_path / "broken.geojson"
    path.write_bytes(content)
    with pytest.raises(ImportFailed, match="cannot read"):
        import_areas(path, "street")
    assert streets().count() == 1


def test_one_bad_feature_among_good_ones_imports_nothing(city, tmp_path):
    path = write_geojson(tmp_path / "s.geojson", feature("430302002", "雨湖路街道", STREET_A),
                         feature("430302003", "", STREET_B), feature("430304001", "岳塘街道", STREET_B))
    with pytest.raises(ImportFailed) as exc:
        import_areas(path, "street")
    messages = [str(p) for p in exc.value.report.rejected]
    assert any("no value in name field" in m for m in messages)
    assert any("wholly outside its parent" in m for m in messages)  # 430304001 is not in 岳塘区's box
    assert streets().count() == 1


def test_existing_codes_need_update(city, tmp_path):
    path = write_geojson(tmp_path / "s.geojson", feature("430302001", "城正街街道（新）", STREET_A))
    with pytest.raises(ImportFailed, match="already exist"):
        import_areas(path, "street")
    report = import_areas(path, "street", update=True)
    assert report.updated == 1
    assert Area.objects.get(code="430302001").name == "城正街街道（新）"


def test_local_codes_find_their_parent_by_location(city, tmp_path):
    ring = [[112.881, 27.886], [112.889, 27.886], [112.889, 27.889], [112.881, 27.889], [112.881, 27.886]]
    path = write_geojson(tmp_path / "c.geojson", feature("003", "工农社区", ring))
    import_areas(path, "community")
    assert Area.objects.get(name="工农社区").code == "430302001003"


def test_gcj02_option_converts_to_wgs84(city, tmp_path):
    wgs = [[112.852, 27.852], [112.858, 27.852], [112.858, 27.858], [112.852, 27.858], [112.852, 27.852]]
    gcj = [list(gcj02.wgs84_to_gcj02(x, y)) for x, y in wgs]
    path = write_geojson(tmp_path / "s.geojson", feature("430302002", "雨湖路街道", gcj))
    import_areas(path, "street", from_gcj02=True)
    stored = Area.objects.get(code="430302002").geom
    assert stored.extent == pytest.approx((112.852, 27.852, 112.858, 27.858), abs=1e-8)
    assert abs(gcj[0][0] - wgs[0][0]) > 0.003  # the offset really is hundreds of metres


def test_command_reports_problems_in_one_line(city, tmp_path, capsys):
    path = write_geojson(tmp_path / "s.geojson", feature("430302003", "云塘街道", BOWTIE))
    with pytest.raises(CommandError) as exc:
        call_command("import_areas", str(path), "--level", "street", "--no-repair")
    assert "\n" not in str(exc.value)
    assert "nothing imported" in str(exc.value)
    assert "rejected feature 1 (430302003 云塘街道)" in capsys.readouterr().err
    call_command("import_areas", str(path), "--level", "street")
    assert "1 created" in capsys.readouterr().out


def test_command_missing_file(db):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_areas", "/nonexistent.geojson", "--level", "street")
