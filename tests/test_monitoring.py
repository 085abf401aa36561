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
])
def test_csv_import_is_all_or_nothing(people, kinds, tmp_path, bad):
    from monitoring.models import Sensor

    path = tmp_path / "sensors.csv"
    path.write_text(CSV_OK + bad + "\n", encoding="utf-8")
    with pytest.raises(CommandError, match="nothing imported: line 4"):
        call_command("import_sensors", str(path))
    assert not Sensor.objects.exists()


def test_csv_import_refuses_a_wrong_header(people, kinds, tmp_path):
    path = tmp_path / "sensors.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(CommandError, match="header"):
        call_command("import_sensors", str(path))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_sensors", str(tmp_path / "missing.csv"))
