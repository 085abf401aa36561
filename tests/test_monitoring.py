"""Lifeline monitoring: the sensor registry, its API, scope and CSV import (issue 16)."""

import pytest
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.conftest import api_client, point_in


@pytest.fixture
def kinds(db):
    # Transactional tests flush what migration 0002 loaded: put the shipped kinds back.
    from monitoring.kinds import load_kinds
    from monitoring.models import SensorKind

    load_kinds(SensorKind)
    return {k.code: k for k in SensorKind.objects.all()}


@pytest.fixture
def sensors(people, kinds):
    from monitoring.models import Sensor

    lon, lat = point_in(people["a"])
    west = Sensor.objects.create(code="WL-001", name="和平路排水井", kind=kinds["manhole_level"], owner=people["cg"],
                                 position=Point(lon, lat, srid=4326), interval_s=60)
    east = Sensor.objects.create(code="GAS-9", kind=kinds["gas"], owner=people["water"],
                                 position=Point(112.95, 27.85, srid=4326))
    return {"west": west, "east": east}


def test_shipped_kinds_map_to_catalogue_subclasses(kinds, catalogue):
    from incidents.catalogue import subclass

    assert {"pipe_pressure", "manhole_level", "gas", "cover_tilt", "bridge_strain", "cable_temp"} <= set(kinds)
    for kind in kinds.values():
        assert subclass(kind.category) is not None, kind.code
        assert kind.physical_min < kind.physical_max
    assert kinds["gas"].emergency and kinds["gas"].alarm_above == 25


def test_a_sensor_is_located_in_its_cell_and_district(sensors, people):
    west = sensors["west"]
    assert west.cell is not None and west.cell.community_id == people["a"].id
    assert west.district_id == people["west"].id
    assert sensors["east"].district_id == people["east"].id and sensors["east"].cell is None
    assert west.threshold("alarm_above") == 2.5  # the kind's
    west.alarm_above = 1.8
    assert west.threshold("alarm_above") == 1.8  # its own overrides


def test_sensor_list_is_scoped(sensors, people):
    url = reverse("monitoring:sensor-list")

    def codes(user):
        response = api_client(user).get(url)
        assert response.status_code == 200
        return {f["id"] for f in response.json()["features"]}

    assert codes(people["dispatcher"]) == {"WL-001", "GAS-9"}  # the city's centre
    assert codes(people["east_dispatcher"]) == {"GAS-9"}
    assert codes(people["cg_staff"]) == {"WL-001"}  # its bureau's own
    assert codes(people["water_staff"]) == {"GAS-9"}
    feature = api_client(people["dispatcher"]).get(url).json()["features"][0]
    assert feature["geometry"]["type"] == "Point" and feature["properties"]["state"] == "unknown"


def test_sensor_list_takes_the_map_view_and_a_limit(sensors, people, settings):
    url = reverse("monitoring:sensor-list")
    client = api_client(people["dispatcher"])
    west = client.get(url, {"bbox": "112.80,27.80,112.90,27.90"}).json()
    assert {f["id"] for f in west["features"]} == {"WL-001"} and not west["truncated"]
    assert client.get(url, {"bbox": "113.5,27.80,113.6,27.90"}).json()["features"] == []
    bad = client.get(url, {"bbox": "112.9,27.8,112.8"})
    assert bad.status_code == 400 and "bbox" in bad.json()
    assert client.get(url, {"state": "nonsense"}).status_code == 400
    settings.SENSOR_MAP_MAX = 1
    capped = client.get(url).json()
    assert len(capped["features"]) == 1 and capped["truncated"]


def test_sensor_detail_out_of_scope_is_404(sensors, people):
    url = reverse("monitoring:sensor-detail", args=["WL-001"])
    body = api_client(people["cg_staff"]).get(url).json()
    assert body["properties"]["thresholds"]["alarm_above"] == 2.5 and body["properties"]["episodes"] == []
    assert api_client(people["east_dispatcher"]).get(url).status_code == 404
    assert api_client(people["inspector"]).get(url).status_code == 403


CSV_OK = """code,name,kind,lon,lat,owner,interval_s,active,watched_object
P-001,建设路供水压力,pipe_pressure,112.885,27.883,430300-SW,30,1,DN600 建设路段
P-002,,pipe_pressure,112.886,27.884,430300-SW,,,
"""


def test_csv_import_creates_and_updates(people, kinds, tmp_path):
    from monitoring.models import Sensor

    path = tmp_path / "sensors.csv"
    path.write_text(CSV_OK, encoding="utf-8")
    call_command("import_sensors", str(path))
    p1 = Sensor.objects.get(code="P-001")
    assert p1.interval_s == 30 and p1.watched_object == "DN600 建设路段" and p1.district_id == people["west"].id
    path.write_text(CSV_OK.replace(",30,1,", ",120,0,"), encoding="utf-8")
    call_command("import_sensors", str(path))
    p1.refresh_from_db()
    assert p1.interval_s == 120 and not p1.active and Sensor.objects.count() == 2


@pytest.mark.parametrize("bad", [
    "P-003,,no_such_kind,112.885,27.883,430300-SW,,,",
    "P-003,,gas,east,27.883,430300-SW,,,",
    "P-003,,gas,112.885,27.883,NO-BUREAU,,,",
    "P 003/x,,gas,112.885,27.883,430300-SW,,,",
    "P-001,,gas,112.885,27.883,430300-SW,,,",  # twice in the file
    "P-003,,gas,112.885,27.883,430300-SW,0,,",
    "citygrid-ingest,,gas,112.885,27.883,430300-SW,,,",  # the ingest's broker account: reads every topic
    "Gateway-water,,gas,112.885,27.883,430300-SW,,,",  # a gateway's account: writes for its bureau
])
def test_csv_import_is_all_or_nothing(people, kinds, tmp_path, bad):
    from monitoring.models import Sensor

    path = tmp_path / "sensors.csv"
    path.write_text(CSV_OK + bad + "\n", encoding="utf-8")
    with pytest.raises(CommandError, match="nothing imported: (line 4|第 4 行)"):
        call_command("import_sensors", str(path))
    assert not Sensor.objects.exists()


def test_a_sensor_never_takes_another_broker_accounts_name(sensors, tmp_path):
    """A device named as the ingest or a gateway would get that account's rights in the ACL: the code is refused,
    and a row written around the check still gets no account in the broker's files."""
    from django.core.exceptions import ValidationError

    from monitoring import broker
    from monitoring.models import Sensor

    sensor = Sensor.objects.first()
    for code in ("citygrid-ingest", "gateway-simulator"):
        sensor.code = code
        with pytest.raises(ValidationError, match="reserved|保留"):
            sensor.full_clean()
    Sensor.objects.filter(pk=sensor.pk).update(code="gateway-evil", mqtt_hash="$7$101$x$y")
    acl = broker.acl_text()
    assert "user gateway-evil" not in acl and "gateway-evil:" not in broker.passwd_text(tmp_path)


def _geojson(tmp_path, features: list, crs: str | None = None):
    import json

    body = {"type": "FeatureCollection", "features": features}
    if crs:
        body["crs"] = {"type": "name", "properties": {"name": crs}}
    path = tmp_path / "sensors.geojson"
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return path


def _point(code: str, x: float, y: float, **props) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": {"code": code, "kind": "pipe_pressure", "owner": "430300-SW", **props}}


def test_gis_import_reads_points_in_any_crs(people, kinds, tmp_path):
    """A GeoJSON in the city's Gauss-Krüger zone (CGCS2000 / 3-degree GK CM 111E, EPSG:4545 — Xiangtan lies at
    112.9°E, so its own zone's central meridian is 111°E or 114°E; any projected CRS will do for the test): the
    positions come back as WGS84 within centimetres."""
    from django.contrib.gis.gdal import CoordTransform, SpatialReference
    from django.contrib.gis.geos import Point

    from monitoring.models import Sensor

    to_gk = CoordTransform(SpatialReference(4326), SpatialReference(4545))
    gk = Point(112.885, 27.883, srid=4326)
    gk.transform(to_gk)
    path = _geojson(tmp_path, [_point("P-101", gk.x, gk.y, name="韶山路压力", interval_s=30),
                               _point("P-102", gk.x + 50, gk.y + 50)], crs="urn:ogc:def:crs:EPSG::4545")
    call_command("import_sensors", str(path))
    p101 = Sensor.objects.get(code="P-101")
    assert abs(p101.position.x - 112.885) < 1e-7 and abs(p101.position.y - 27.883) < 1e-7
    assert p101.interval_s == 30 and p101.name == "韶山路压力" and p101.district_id == people["west"].id
    assert Sensor.objects.count() == 2


@pytest.mark.parametrize("bad", [
    {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[112.88, 27.88], [112.89, 27.89]]},
     "properties": {"code": "P-103", "kind": "pipe_pressure", "owner": "430300-SW"}},  # not a point
    {"type": "Feature", "geometry": None, "properties": {"code": "P-103", "kind": "pipe_pressure",
                                                         "owner": "430300-SW"}},  # no geometry
    _point("P-103", 112.885, 27.883, kind="no_such_kind"),
])
def test_gis_import_is_all_or_nothing(people, kinds, tmp_path, bad):
    from monitoring.models import Sensor

    path = _geojson(tmp_path, [_point("P-101", 112.885, 27.883), bad])
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_sensors", str(path))
    assert not Sensor.objects.exists()
    path = _geojson(tmp_path, [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [112.885, 27.883]},
                                "properties": {"name": "no code"}}])
    with pytest.raises(CommandError, match="nothing imported: .*(code|kind|owner)"):
        call_command("import_sensors", str(path))


def test_csv_import_refuses_a_wrong_header(people, kinds, tmp_path):
    path = tmp_path / "sensors.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(CommandError, match="header|表头"):
        call_command("import_sensors", str(path))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_sensors", str(tmp_path / "missing.csv"))


# Readings: checking, storing once, rollups, partitions and the chart (step 2)


def _readings(sensor, values, start, step_s=60, seq0=0):
    from datetime import timedelta

    from monitoring.readings import Reading

    return [Reading(sensor.pk, seq0 + i, start + timedelta(seconds=i * step_s), v) for i, v in enumerate(values)]


def test_parse_refuses_bad_readings_with_their_reason(sensors):
    from datetime import timedelta

    from django.utils import timezone

    from monitoring.readings import Refused, parse, sensor_table

    table = sensor_table()
    now = timezone.now()
    ok = parse("WL-001", b'{"t": "%s", "v": 1.25, "seq": 7}' % now.isoformat().encode(), table)
    assert ok.value == 1.25 and ok.seq == 7 and ok.sensor_id == sensors["west"].pk
    assert parse("WL-001", {"t": now.timestamp(), "v": 0, "seq": 8}, table).time == now
    cases = {
        "unknown_sensor": ("NOPE", b'{"t": 0, "v": 1, "seq": 1}'),
        "malformed": ("WL-001", b"{not json"),
        "out_of_range": ("WL-001", b'{"t": "%s", "v": 11.0, "seq": 1}' % now.isoformat().encode()),
        "future": ("WL-001", b'{"t": "%s", "v": 1.0, "seq": 1}' % (now + timedelta(hours=2)).isoformat().encode()),
    }
    for reason, (code, payload) in cases.items():
        with pytest.raises(Refused) as caught:
            parse(code, payload, table)
        assert caught.value.reason == reason
    for payload in (b"[]", b'{"t": "2026-01-01T00:00:00", "v": 1, "seq": 1}', b'{"t": 1, "v": "1", "seq": 1}',
                    b'{"t": 1, "v": 1, "seq": -1}', b'{"t": 1, "v": NaN, "seq": 1}', b'{"v": 1, "seq": 1}'):
        with pytest.raises(Refused) as caught:
            parse("WL-001", payload, table)
        assert caught.value.reason == "malformed", payload


def test_a_repeated_reading_is_stored_once_and_rolled_up_once(sensors):
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from monitoring.readings import store

    start = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=2)
    batch = _readings(sensors["west"], [1.0, 2.0, 3.0], start, step_s=20)
    count, rows = store(batch)
    assert count == 3 and [r[2] for r in rows] == [1.0, 2.0, 3.0] and rows[0][1] == start
    assert store(batch + batch[:1]) == (0, [])  # a redelivery and a retry: nothing new
    assert store(_readings(sensors["west"], [4.0], start + timedelta(seconds=50), seq0=3))[0] == 1
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM monitoring_reading WHERE sensor_id = %s", [sensors["west"].pk])
        assert cur.fetchone()[0] == 4
        cur.execute("SELECT n, total, low, high FROM monitoring_reading_minute WHERE sensor_id = %s",
                    [sensors["west"].pk])
        assert cur.fetchall() == [(4, 10.0, 1.0, 4.0)]
        cur.execute("SELECT n, total FROM monitoring_reading_hour WHERE sensor_id = %s", [sensors["west"].pk])
        assert cur.fetchall() == [(4, 10.0)]


def test_readings_are_partitioned_by_month_and_the_default_partition_hands_over(sensors):
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from monitoring.readings import ensure_partitions, store

    with connection.cursor() as cur:
        cur.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'monitoring_reading'::regclass ORDER BY 1")
        parts = [r[0] for r in cur.fetchall()]
    this_month = f"monitoring_reading_p{timezone.now():%Y%m}"
    assert this_month in parts and "monitoring_reading_default" in parts and len(parts) >= 4
    # A reading four months ahead (a device's clock gone wrong that far is refused by parse; here stored directly)
    # goes to DEFAULT, and moves into its month when the month's partition is made.
    later = timezone.now() + timedelta(days=100)
    store(_readings(sensors["west"], [1.5], later))
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM monitoring_reading_default")
        assert cur.fetchone()[0] == 1
    assert ensure_partitions(4) >= 1
    assert ensure_partitions(4) == 0  # idempotent
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM monitoring_reading_default")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT tableoid::regclass::text FROM monitoring_reading")
        assert cur.fetchone()[0] == f"monitoring_reading_p{later:%Y%m}"


def test_chart_reads_the_resolution_its_span_needs(sensors, people):
    from datetime import timedelta

    from django.utils import timezone

    from monitoring.readings import store

    now = timezone.now().replace(second=0, microsecond=0)
    west = sensors["west"]
    values = [1.0 + (i % 10) / 10 for i in range(3 * 24 * 60 // 5)]
    store(_readings(west, values, now - timedelta(days=3), step_s=300))
    url = reverse("monitoring:sensor-chart", args=["WL-001"])
    client = api_client(people["cg_staff"])
    day = client.get(url).json()  # the last 24 hours up to now
    assert day["resolution"] == "minute" and 0 < len(day["points"]) <= 300 and day["unit"] == "m"
    assert sum(p["n"] for p in day["points"]) == 24 * 12 - 1  # not the one at exactly now - 24 h, a little before
    day = client.get(url, {"end": now.isoformat()}).json()
    assert sum(p["n"] for p in day["points"]) == 24 * 12
    hour = client.get(url, {"start": (now - timedelta(hours=1)).isoformat(), "end": now.isoformat()}).json()
    assert hour["resolution"] == "raw" and sum(p["n"] for p in hour["points"]) == 12
    week = client.get(url, {"start": (now - timedelta(days=7)).isoformat(), "end": now.isoformat()}).json()
    assert week["resolution"] == "hour" and sum(p["n"] for p in week["points"]) == 3 * 24 * 12
    assert week["step_s"] >= 3600 and len(week["points"]) <= 300
    assert client.get(url, {"start": now.isoformat(), "end": (now - timedelta(hours=1)).isoformat()}).status_code == 400
    assert client.get(url, {"start": "yesterday"}).status_code == 400
    assert api_client(people["east_dispatcher"]).get(url).status_code == 404


def test_the_scheduler_makes_the_months_ahead_and_drops_expired_raw_readings(sensors):
    import io
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from monitoring.readings import store

    old = timezone.now() - timedelta(days=500)  # before any monthly partition: kept by DEFAULT
    store(_readings(sensors["west"], [1.0], old))
    out = io.StringIO()
    call_command("run_scheduler", "--once", stdout=out)
    assert "readings: " in out.getvalue()
    ahead = f"monitoring_reading_p{timezone.now() + timedelta(days=40):%Y%m}"
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)::text", [ahead])
        assert cur.fetchone() == (ahead,)
        cur.execute("SELECT count(*) FROM monitoring_reading WHERE sensor_id = %s", [sensors["west"].pk])
        assert cur.fetchone() == (0,)  # past READINGS_RAW_DAYS
        cur.execute("SELECT n FROM monitoring_reading_hour WHERE sensor_id = %s", [sensors["west"].pk])
        assert cur.fetchone() == (1,)  # the rollup stays


# The gateways' HTTP batch endpoint (step 3)


@pytest.fixture
def gateway_key(people):
    import io

    out = io.StringIO()
    call_command("issue_gateway_key", "gw-cg", "--bureau", people["cg"].code, stdout=out)
    return out.getvalue().strip()


def test_a_gateway_posts_a_batch_once_whatever_its_retries(sensors, gateway_key, client):
    from django.db import connection
    from django.utils import timezone

    from monitoring.readings import refused_total

    url = reverse("monitoring:reading-batch")
    now = timezone.now().isoformat()
    body = {"readings": [{"sensor": "WL-001", "t": now, "v": 1.2, "seq": 1},
                         {"sensor": "WL-001", "t": now, "v": 1.3, "seq": 2},
                         {"sensor": "WL-001", "t": now, "v": 99, "seq": 3},  # out of range
                         {"sensor": "GAS-9", "t": now, "v": 1, "seq": 1},  # not its bureau's
                         "junk"]}
    auth = {"HTTP_AUTHORIZATION": f"Gateway {gateway_key}"}
    first = client.post(url, body, content_type="application/json", **auth)
    assert first.status_code == 200, first.content
    assert first.json() == {"stored": 2, "duplicates": 0, "refused": [
        {"index": 2, "reason": "out_of_range"}, {"index": 3, "reason": "unknown_sensor"},
        {"index": 4, "reason": "unknown_sensor"}]}
    again = client.post(url, body, content_type="application/json", **auth).json()
    assert again["stored"] == 0 and again["duplicates"] == 2
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM monitoring_reading")
        assert cur.fetchone()[0] == 2
    assert refused_total() == 6


def test_the_gateway_endpoint_refuses_without_a_key_and_bad_bodies(sensors, gateway_key, client):
    url = reverse("monitoring:reading-batch")
    body = {"readings": [{"sensor": "WL-001", "t": "2026-01-01T00:00:00Z", "v": 1, "seq": 1}]}
    assert client.post(url, body, content_type="application/json").status_code == 401
    assert client.post(url, body, content_type="application/json",
                       HTTP_AUTHORIZATION="Gateway wrong").status_code == 401
    assert client.get(url).status_code in (401, 403, 405)
    auth = {"HTTP_AUTHORIZATION": f"Gateway {gateway_key}"}
    for bad in ({}, {"readings": []}, {"readings": "x"}, [1, 2]):
        response = client.post(url, bad, content_type="application/json", **auth)
        assert response.status_code == 400 and "readings" in response.json(), bad
    assert client.post(url, "{nope", content_type="application/json", **auth).status_code == 400
    with pytest.raises(CommandError, match="unknown bureau"):
        call_command("issue_gateway_key", "gw-x", "--bureau", "NOPE")
    with pytest.raises(CommandError, match="code"):
        call_command("issue_gateway_key", "bad code/")
