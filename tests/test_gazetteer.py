"""The gazetteer (地名地址): the normaliser, the all-or-nothing importer and its bad files, geocoding a set of messy
queries to their expected hits, reverse geocoding's distance, and the API's answers to bad input — on real
PostGIS, pg_trgm and GDAL."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse as url

from gazetteer import search
from gazetteer.importing import import_addresses, import_roads
from gazetteer.models import Address, Name, Road
from gazetteer.normalise import chinese_number, normalise, parse, sound_text, trigram_text
from grids.importing import ImportFailed
from tests.conftest import api_client, make_user

# ---- the normaliser (no database)


@pytest.mark.parametrize(("raw", "normal"), [
    ("韶山路１２号", "韶山路12号"),  # full-width digits
    ("ＡＢＣ大厦 ３栋", "abc大厦3栋"),  # full-width letters, the ideographic space
    ("韶山路十二号", "韶山路12号"),
    ("韶山路一百零五号", "韶山路105号"),
    ("韶山路二〇三号", "韶山路203号"),  # said digit by digit
    ("建设路12号院3幢二单元", "建设路12号3栋2单元"),  # 号院 → 号, 幢 → 栋, 二单元 → 2单元
    ("建设路12号3号楼", "建设路12号3栋"),
    ("湖南省湘潭市雨湖区建设路12号", "雨湖区建设路12号"),  # province and city dropped by default
    ("五一路8号", "五一路8号"),  # a numeral that is part of a road's name stays
    ("建设路 12 号（门口）", "建设路12号"),
])
def test_normalise(raw, normal):
    assert normalise(raw).text == normal


def test_prefixes_dropped_are_reported_and_a_road_name_is_not_cut():
    found = normalise("湘潭市雨湖区建设路12号", prefixes=("湘潭市", "雨湖区", "韶山"))
    assert found.text == "建设路12号" and found.dropped == ("湘潭市", "雨湖区")
    assert normalise("韶山路12号", prefixes=("韶山",)).text == "韶山路12号"  # 韶山市's short name, not dropped


@pytest.mark.parametrize(("text", "road", "number", "sub"), [
    ("建设路12号3栋2单元", "建设路", "12", "3栋2单元"),
    ("建设路12-1号", "建设路", "12-1", ""),
    ("建设路12", "建设路", "12", ""),
    ("建设路", "建设路", "", ""),
    ("韶山路3栋", "韶山路", "", "3栋"),
])
def test_parse(text, road, number, sub):
    assert parse(text) == (parse(text).__class__)(road, number, sub)


def test_chinese_numbers_and_search_texts():
    assert [chinese_number(t) for t in ("十", "十二", "二十", "一百零五", "三千零一", "二〇三", "x")] == [
        10, 12, 20, 105, 3001, 203, None]
    assert trigram_text("韶山路12号") == "韶 山 路 12 号"
    assert sound_text("绍山路") == sound_text("韶山路") == "shao shan lu"


# ---- a small gazetteer in the tests' city, imported from files

ROADS = {  # name: (district, start, end) — lines inside the test city
    "建设路": ((112.8805, 27.8830), (112.8985, 27.8830)),
    "韶山路": ((112.8850, 27.8805), (112.8850, 27.8895)),
    "人民路": ((112.8805, 27.8850), (112.8985, 27.8850)),
    "岳塘人民路": ((112.9100, 27.8500), (112.9400, 27.8500)),
}


def _doors():
    """Door numbers every ~20 m along each road, odd north/east, even south/west; compounds and landmarks."""
    features = []
    for key, ((x0, y0), (x1, y1)) in ROADS.items():
        name = "人民路" if key == "岳塘人民路" else key
        steps = 30
        for k in range(steps):
            t = (k + 0.5) / steps
            x, y = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
            for side, number in ((1, 2 * k + 1), (-1, 2 * k + 2)):
                dx, dy = (0, 0.0001 * side) if y0 == y1 else (0.0001 * side, 0)
                code = f"{key}-{number}"
                features.append(((x + dx, y + dy), {"code": code, "road": name, "number": f"{number}号"}))
                if number == 12:
                    for b in (1, 2, 3):
                        features.append(((x + dx + 0.0001 * b, y + dy + 0.0002), {
                            "code": f"{code}-{b}", "road": name, "number": str(number), "sub": f"{b}幢"}))
    features.append(((112.8853, 27.8862), {"code": "POI-1", "kind": "兴趣点", "road": "韶山路", "number": "31",
                                           "name": "湘潭市中心医院", "aliases": "市中心医院|中心医院"}))
    features.append(((112.8900, 27.8832), {"code": "POI-2", "kind": "poi", "name": "雨湖公园", "aliases": ""}))
    return features


def _geojson(tmp_path, features, name="addresses.geojson"):
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(xy)} if xy else None,
         "properties": props} for xy, props in features]}, ensure_ascii=False))
    return path


@pytest.fixture
def addresses(city, tmp_path):
    search.clear_cache()
    source = _geojson(tmp_path, _doors())
    projected = tmp_path / "addresses.gpkg"  # a projected CGCS2000 CRS (3° Gauss-Krüger, 114°E)
    subprocess.run(["ogr2ogr", "-f", "GPKG", "-t_srs", "EPSG:4547", str(projected), str(source)], check=True)
    report = import_addresses(projected)
    assert report.rejected == [] and report.created == len(_doors())
    yield city
    search.clear_cache()


def test_import_from_a_projected_geopackage_located_with_its_names(addresses):
    door = Address.objects.get(code="建设路-12")
    assert (door.kind, door.road.name, door.number, door.sub, door.text) == ("door", "建设路", "12", "", "建设路12号")
    assert door.district == addresses["west"] and door.street == addresses["street"]
    assert Address.objects.get(code="建设路-12-2").sub == "2栋"  # 幢 → 栋
    poi = Address.objects.get(code="POI-1")
    assert poi.kind == "poi" and poi.text == "湘潭市中心医院（韶山路31号）"
    assert Name.objects.filter(address=poi).count() == 3
    # the same name in two districts is two roads
    assert sorted(Road.objects.filter(name="人民路").values_list("district__name", flat=True)) == ["岳塘区", "雨湖区"]
    lon, lat = door.geom.x, door.geom.y
    assert 112.88 < lon < 112.90 and abs(lat - 27.8829) < 1e-6  # even: the south side; back from EPSG:4547


def test_a_csv_with_longitude_and_latitude_columns(city, tmp_path):
    path = tmp_path / "doors.csv"
    path.write_text("编号,道路,门牌,经度,纬度\nC1,建设路,8号,112.8851,27.8831\nC2,建设路,10号,112.8853,27.8831\n",
                    encoding="utf-8")
    report = import_addresses(path, mapping={"code": "编号", "road": "道路", "number": "门牌"},
                              lon_field="经度", lat_field="纬度")
    assert report.created == 2 and Address.objects.get(code="C2").text == "建设路10号"


def test_one_bad_feature_imports_nothing_and_each_is_reported(city, tmp_path):
    features = [((112.885, 27.883), {"code": "ok", "road": "建设路", "number": "1"}),
                ((112.885, 27.883), {"code": "no-number", "road": "建设路", "number": ""}),
                ((112.885, 27.883), {"code": "bad-number", "road": "建设路", "number": "东边"}),
                ((112.885, 27.883), {"code": "ok", "road": "建设路", "number": "3"}),
                ((112.885, 27.883), {"code": "kind", "kind": "house", "road": "建设路", "number": "5"}),
                (None, {"code": "no-geom", "road": "建设路", "number": "7"}),
                ((120.5, 30.2), {"code": "far", "road": "建设路", "number": "9"}),
                ((112.885, 27.883), {"code": "poi", "kind": "poi", "name": ""})]
    with pytest.raises(ImportFailed, match="7 of 8 features rejected; nothing imported") as failed:
        import_addresses(_geojson(tmp_path, features))
    problems = {p.index: p.message for p in failed.value.report.rejected}
    assert "needs a road and a door number" in problems[2] and "not a number" in problems[3]
    assert "earlier in the file" in problems[4] and "unknown kind" in problems[5]
    assert "geometry" in problems[6] and "outside the city" in problems[7] and "needs a name" in problems[8]
    assert not Address.objects.exists() and not Road.objects.exists()


def test_bad_files_and_the_command_exit_with_one_line(city, tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_addresses", str(tmp_path / "none.geojson"))
    junk = tmp_path / "junk.geojson"
    junk.write_text("{ not json")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_addresses", str(junk))
    csv_path = tmp_path / "nopoints.csv"
    csv_path.write_text("code,road,number\n1,建设路,1\n")
    with pytest.raises(CommandError, match="WKT column or longitude/latitude"):
        call_command("import_addresses", str(csv_path))
    path = _geojson(tmp_path, [((112.885, 27.883), {"code": "x1", "road": "建设路", "number": "1"})])
    call_command("import_addresses", str(path))
    with pytest.raises(CommandError, match="already exist"):
        call_command("import_addresses", str(path))
    call_command("import_addresses", str(path), "--update")
    assert Address.objects.count() == 1
    # the manage.py command as a city runs it: non-zero exit, one readable line
    done = subprocess.run([sys.executable, "manage.py", "import_addresses", str(tmp_path / "none.geojson")],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode != 0 and done.stderr.strip().splitlines()[-1].startswith("CommandError: cannot read")


def test_roads_import_gives_lines_and_aliases(addresses, tmp_path):
    path = tmp_path / "roads.geojson"
    (x0, y0), (x1, y1) = ROADS["韶山路"]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[x0, y0], [x1, y1]]},
         "properties": {"name": "韶山路", "aliases": "韶山中路"}},
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[112.882, 27.881], [112.883, 27.881]]},
         "properties": {"name": "新修路", "aliases": ""}}]}, ensure_ascii=False))
    report = import_roads(path)
    assert (report.created, report.updated) == (1, 1)
    road = Road.objects.get(name="韶山路")
    assert road.geom is not None and road.aliases == "韶山中路"
    assert search.geocode("韶山中路12号")[0].text == "韶山路12号"
    bad = tmp_path / "bad-roads.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [112.885, 27.883]},
         "properties": {"name": "点"}}]}))
    with pytest.raises(ImportFailed, match="nothing imported"):
        import_roads(bad)


# ---- geocoding: messy queries and their expected hits

MESSY = [  # (what was typed or said, the code expected first)
    ("建设路12号", "建设路-12"),
    ("建设路１２号", "建设路-12"),  # full-width digits
    ("建设路十二号", "建设路-12"),  # Chinese numerals
    ("建设路12号院", "建设路-12"),  # 号院
    ("建设路12号2栋", "建设路-12-2"),
    ("建设路12号2幢", "建设路-12-2"),  # 幢 for 栋
    ("建设路12号院2号楼", "建设路-12-2"),
    ("湖南省湘潭市雨湖区建设路12号", "建设路-12"),  # with province, city and district
    ("城正街街道建设路7号", "建设路-7"),  # a street's name in front
    ("建没路12号", "建设路-12"),  # a typo
    ("见设路12号", "建设路-12"),  # heard, not seen: same sound
    ("建设12号", "建设路-12"),  # 路 left out
    ("建设路 12", "建设路-12"),  # no 号
    ("韶山路31号", "韶山路-31"),
    ("绍山路31号", "韶山路-31"),  # a homophone
    ("雨湖区人民路5号", "人民路-5"),  # the district named picks the right 人民路
    ("岳塘区人民路5号", "岳塘人民路-5"),
    ("中心医院", "POI-1"),  # an alias
    ("湘潭市中心医院", "POI-1"),
    ("雨湖公园", "POI-2"),
    ("雨湖工园", "POI-2"),  # a typo in a landmark's name
]


def test_geocode_hits_the_messy_test_set(addresses):
    hits, misses = 0, []
    for query, expected in MESSY:
        found = search.geocode(query, 5)
        first = Address.objects.get(pk=found[0].id).code if found and found[0].kind != "road" else None
        if first == expected:
            hits += 1
        else:
            misses.append((query, expected, [(c.text, c.score) for c in found[:3]]))
    rate = hits / len(MESSY)
    print(f"gazetteer hit rate on {len(MESSY)} messy queries: {rate:.0%}")
    assert misses == [], misses


def test_candidates_are_scored_and_ordered(addresses):
    found = search.geocode("建设路12号")
    assert 1 < len(found) <= 10 and all(0 <= c.score <= 1 for c in found)
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    assert found[0].text == "建设路12号" and found[0].context == "雨湖区 城正街街道"
    assert {"建设路12号1栋", "建设路11号"} <= {c.text for c in found}  # its buildings, its neighbour
    roads = search.geocode("建设路")
    assert roads[0].kind == "road" and roads[0].text == "建设路"
    assert search.geocode("") == [] and search.geocode("   ") == []


def test_a_number_that_does_not_exist_offers_the_nearest(addresses):
    found = search.geocode("建设路99号")  # the road has 1…60
    assert found and found[0].road == "建设路" and found[0].number in ("59", "60")


def test_reverse_gives_the_nearest_door_and_the_distance(addresses):
    door = Address.objects.get(code="建设路-21")
    north = door.geom.y + 10 / 110_574  # 10 m north, away from the road
    nearest = search.reverse(door.geom.x, north)
    assert nearest.text == "建设路21号" and nearest.road == "建设路" and nearest.number == "21"
    assert abs(nearest.distance_m - 10) < 0.5
    assert search.reverse(112.99, 27.81) is None  # nothing within 500 m


# ---- the API


def test_geocode_and_reverse_api(addresses):
    client = api_client(make_user("op", "operator"))
    found = client.get(url("gazetteer:geocode"), {"q": "建设路12号", "limit": 3}).json()["results"]
    assert len(found) == 3 and found[0]["text"] == "建设路12号" and found[0]["kind"] == "door"
    door = Address.objects.get(code="建设路-12")
    near = client.get(url("gazetteer:reverse"), {"lon": door.geom.x, "lat": door.geom.y}).json()
    assert near["text"] == "建设路12号" and near["distance_m"] == 0
    far = client.get(url("gazetteer:reverse"), {"lon": 112.99, "lat": 27.81})
    assert far.status_code == 404 and far.json()["code"] == "no_address"


@pytest.mark.parametrize(("name", "params", "field"), [
    ("gazetteer:geocode", {}, "q"),
    ("gazetteer:geocode", {"q": ""}, "q"),
    ("gazetteer:geocode", {"q": "x" * 101}, "q"),
    ("gazetteer:geocode", {"q": "建设路", "limit": 0}, "limit"),
    ("gazetteer:geocode", {"q": "建设路", "limit": "many"}, "limit"),
    ("gazetteer:reverse", {"lon": 112.88}, "lat"),
    ("gazetteer:reverse", {"lon": "east", "lat": 27.88}, "lon"),
    ("gazetteer:reverse", {"lon": 112.88, "lat": 95}, "lat"),
    ("gazetteer:reverse", {"lon": "nan", "lat": 27.88}, "lon"),
])
def test_bad_input_is_400_with_the_field(city, name, params, field):
    answer = api_client(make_user("op", "operator")).get(url(name), params)
    assert answer.status_code == 400 and field in answer.json(), answer.content


def test_staff_only_and_the_public_gets_text_and_point(addresses, client, settings):
    assert client.get(url("gazetteer:geocode"), {"q": "建设路"}).status_code in (401, 403)
    assert api_client(make_user("sec", "security_admin")).get(url("gazetteer:geocode"),
                                                              {"q": "建设路"}).status_code == 403
    answer = client.get(url("public-gazetteer:geocode"), {"q": "建设路12号"})
    assert answer.status_code == 200
    first = answer.json()["results"][0]
    assert set(first) == {"text", "lon", "lat"} and first["text"] == "建设路12号"
    assert client.get(url("public-gazetteer:geocode"), {"q": ""}).status_code == 400
    assert client.get(url("public-gazetteer:geocode"), {"q": "x" * 101}).status_code == 400
    assert client.post(url("public-gazetteer:geocode"), {"q": "建设路"}).status_code in (403, 405)
    settings.PUBLIC_GEOCODE_RATE = "3/m"
    codes = [client.get(url("public-gazetteer:geocode"), {"q": "建设路"}).status_code for _ in range(4)]
    assert codes[-1] == 429


def test_the_hotline_desk_finds_addresses_through_the_place_search(addresses):
    """The desk's place box asks grids' place search; the gazetteer is one of its sources by default."""
    client = api_client(make_user("op", "operator"))
    found = client.get(url("grids:places"), {"q": "建设路12号院", "limit": 8}).json()["results"]
    assert found[0] == {**found[0], "kind": "address", "name": "建设路12号", "source": "gazetteer",
                        "context": "雨湖区 城正街街道"}
    door = Address.objects.get(code="建设路-12")
    assert math.isclose(found[0]["lon"], door.geom.x) and math.isclose(found[0]["lat"], door.geom.y)
    grid_first = client.get(url("grids:places"), {"q": "和平"}).json()["results"]
    assert grid_first[0]["kind"] == "community"  # the grid's own names still come first


def test_a_name_one_character_wrong_is_found_by_its_slip_keys(addresses):
    """The road and the landmark a slip of one character names, found by equality on the slip keys (migration
    0002) — not only by the trigram search behind them; two characters wrong are not a slip."""
    from django.db import connection

    from gazetteer.models import Road
    from gazetteer.normalise import trigram_text

    with connection.cursor() as cur:
        cur.execute("SELECT rid FROM gazetteer_names_slipped(%s, %s, true, 10)",
                    [trigram_text("建没路"), trigram_text("建没路")])
        assert [r for (r,) in cur.fetchall()] == [Road.objects.get(name="建设路").pk]
        cur.execute("SELECT aid FROM gazetteer_names_slipped(%s, %s, false, 10)",
                    [trigram_text("中心医园"), trigram_text("中心医园")])  # names are kept without the city
        assert Address.objects.get(code="POI-1").pk in [a for (a,) in cur.fetchall()]
        cur.execute("SELECT count(*) FROM gazetteer_names_slipped(%s, %s, true, 10)",
                    [trigram_text("见没路"), trigram_text("见没路")])
        assert cur.fetchone()[0] == 0
