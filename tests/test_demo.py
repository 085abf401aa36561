import json

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection, models, transaction

from citygrid import roles
from citygrid.roles import user_roles
from grids import gcj02
from grids.demo import DATA_FILE
from grids.locate import locate
from grids.models import Area, Bureau, Cell, Level


@pytest.fixture(scope="module")
def _demo_loaded(django_db_setup, django_db_blocker):
    """The demo city loaded once for this module, inside a transaction rolled back after its last test: each test
    runs in a savepoint of it (the `db` fixture's atomic nests), so none sees another's changes and the database
    is left as the other modules expect. Loading the city is half a minute; nine tests each loading it were
    five minutes of `make test`."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("load_demo")
        yield
        transaction.set_rollback(True)


@pytest.fixture
def demo(_demo_loaded, db):
    pass


def counts():
    from assets.models import Component, PipeSegment
    from dispatch.models import RoutingRule
    from incidents.models import Case, CaseLog
    from monitoring.models import Sensor

    return (Area.objects.count(), Cell.objects.count(), Bureau.objects.count(), User.objects.count(),
            RoutingRule.objects.count(), Case.objects.count(), CaseLog.objects.count(), Sensor.objects.count(),
            Component.objects.count(), PipeSegment.objects.count())


def test_demo_city_is_believable(demo):
    districts = dict(Area.objects.filter(level=Level.DISTRICT).values_list("code", "name"))
    assert districts["430302"] == "雨湖区" and districts["430304"] == "岳塘区" and len(districts) == 5
    assert Area.objects.filter(level=Level.STREET, parent__code="430302", name="城正街街道").exists()
    assert Area.objects.filter(level=Level.COMMUNITY, name__endswith="社区").count() >= 40
    assert 2_000 <= Cell.objects.count() <= 10_000
    kinds = set(Bureau.objects.values_list("kind", flat=True))
    assert {"city_management", "housing", "transport", "environment", "water", "power", "gas"} <= kinds


def test_streets_tile_their_district_and_communities_their_street(demo):
    with connection.cursor() as cur:
        cur.execute("""
            SELECT p.code, ST_Area(ST_SymDifference(ST_Union(c.geom), p.geom)) / ST_Area(p.geom)
            FROM grids_area p JOIN grids_area c ON c.parent_id = p.id
            WHERE p.level IN (2, 3) GROUP BY p.id HAVING count(*) > 0""")
        # Planar ratio: the only differences left are degenerate float slivers, which a reprojected area
        # would blow up, so it is measured in the stored coordinates.
        gaps = {code: ratio for code, ratio in cur.fetchall() if ratio > 1e-9}
    assert gaps == {}


def test_every_role_has_a_demo_user(demo):
    held = set()
    for user in User.objects.all():
        held |= user_roles(user)
    assert held == set(roles.ALL_ROLES)
    assert User.objects.get(username="dispatcher_yuhu").profile.district.code == "430302"
    assert User.objects.get(username="bureau_cg").profile.bureau.kind == "city_management"
    assert User.objects.get(username="inspector_yuhu1").inspected_cells.count() > 100


def test_boundaries_are_converted_from_gcj02(demo):
    raw = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    yuhu = next(f for f in raw["features"] if f["properties"]["adcode"] == "430302")
    lon, lat = yuhu["geometry"]["coordinates"][0][0][0]
    expected = gcj02.gcj02_to_wgs84(lon, lat)
    with connection.cursor() as cur:
        cur.execute("SELECT ST_Distance(geom::geography, ST_SetSRID(ST_Point(%s, %s), 4326)::geography), "
                    "ST_Distance(geom::geography, ST_SetSRID(ST_Point(%s, %s), 4326)::geography) "
                    "FROM grids_area WHERE code = '430302'", [*expected, lon, lat])
        to_converted, to_raw = cur.fetchone()
    assert to_converted < 0.01  # metres: the stored boundary passes through the converted vertex
    assert to_raw > 100  # and not through the raw GCJ-02 one


def test_load_demo_twice_changes_nothing(demo):
    before = counts()
    cells = list(Cell.objects.order_by("code").values_list("code", flat=True)[:50])
    call_command("load_demo")
    assert counts() == before
    assert list(Cell.objects.order_by("code").values_list("code", flat=True)[:50]) == cells


def test_a_demo_inspector_can_locate_his_cells(demo):
    cell = User.objects.get(username="inspector_yuetang1").inspected_cells.order_by("code")[10]
    p = cell.geom.point_on_surface
    assert locate(p.x, p.y).cell_code == cell.code


def test_demo_cases_go_round_the_loop(demo):
    from incidents.models import Case

    statuses = set(Case.objects.values_list("status", flat=True))
    assert {"reported", "registered", "dispatched", "processed", "closed"} <= statuses
    # The demo's own emergency, not one of the generated history's (numbered DM…), which spans every subclass.
    emergency = Case.objects.exclude(number__startswith="DM").get(category__code="SJ0405")
    assert emergency.status == "dispatched" and emergency.log.filter(action="dispatch", actor=None).exists()


def test_the_demo_history_leaves_no_empty_day_before_today(demo):
    # The leader's daily chart: the generated history reaches now, so that no day before today's demo cases is
    # empty; none of its steps lies in the future, and the cases whose loop is not over by now are still open.
    from datetime import timedelta

    from django.db.models import Max, Min
    from django.utils import timezone

    from incidents.models import Case, CaseLog

    now = timezone.now()
    span = Case.objects.filter(number__startswith="DM").aggregate(first=Min("created_at"), last=Max("created_at"))
    assert now - timedelta(hours=12) < span["last"] <= now
    assert not CaseLog.objects.filter(case__number__startswith="DM", created_at__gt=now).exists()
    recent = Case.objects.filter(number__startswith="DM", created_at__gt=now - timedelta(hours=25))
    assert recent.exists() and not recent.filter(status="closed").exists()
    days = set(Case.objects.filter(number__startswith="DM").values_list("created_at__date", flat=True))
    first, last = timezone.localdate(span["first"]), timezone.localdate(span["last"])
    # from the first day of the month before last: last month's bulletin compares with a whole month
    assert first.day == 1 and (timezone.localdate(now).month - first.month) % 12 == 2
    assert {first + timedelta(days=k) for k in range((last - first).days + 1)} <= days


def test_the_demo_city_has_sensors_of_every_kind_in_its_districts(demo):
    from monitoring.models import Sensor, SensorKind

    sensors = Sensor.objects.select_related("kind", "district", "owner")
    assert {s.kind.code for s in sensors} == set(SensorKind.objects.values_list("code", flat=True))
    assert {s.district.code for s in sensors} == {"430302", "430304"}
    assert all(s.cell_id and s.mqtt_hash.startswith("$7$") for s in sensors)
    gas = sensors.filter(kind__code="gas").first()
    assert gas.owner.kind == "gas" and gas.watched_object


def test_the_demo_gazetteer_keeps_each_road_and_door_in_its_district(demo):
    """A district's generated roads stop at its boundary: every road lies within its district, every door of it
    is located in that district, and the landmarks are all there (picking 解放路 at the hotline desk must not
    place a case in the neighbouring district)."""
    from gazetteer.demo import LANDMARKS
    from gazetteer.models import Address, Road

    roads = Road.objects.filter(addresses__source="demo").distinct()
    assert roads.count() == 16
    with connection.cursor() as cur:
        cur.execute("""
            SELECT r.name, ST_Length(ST_Difference(r.geom, ST_Buffer(d.geom, 0.00001))::geography)
            FROM gazetteer_road r JOIN grids_area d ON d.id = r.district_id
            WHERE r.id = ANY(%s) AND (r.geom IS NULL OR NOT ST_CoveredBy(r.geom, ST_Buffer(d.geom, 0.00001)))""",
                    [list(roads.values_list("pk", flat=True))])
        assert cur.fetchall() == []
    doors = Address.objects.filter(source="demo")
    assert not doors.exclude(district_id=models.F("road__district_id")).exists()
    assert set(doors.filter(kind="poi").values_list("name", flat=True)) == {name for _, _, name, _ in LANDMARKS}


def test_the_demo_census_and_pipe_networks(demo):
    """Tens of thousands of components per urban district, coded and located; a water network whose bursts close
    a handful of valves, a sewer that drains to outlets (issue 15)."""
    from django.db.models import Count

    from assets import codes, pipes
    from assets.models import Component, ComponentLog, PipeSegment

    per_district = dict(Component.objects.values_list("district__code").annotate(n=Count("id")))
    assert set(per_district) == {"430302", "430304"} and all(n > 20_000 for n in per_district.values())
    assert ComponentLog.objects.count() == Component.objects.count()
    for c in Component.objects.select_related("cell", "district").order_by("?")[:50]:
        codes.validate_code(c.code, c.subclass, c.district.code)
        assert c.cell.geom.contains(c.geom)
    lamps = Component.objects.filter(subclass="BJ0109").count()
    assert 0.1 < lamps / Component.objects.count() < 0.2
    water = PipeSegment.objects.select_related("network").filter(network__kind="water").order_by("code")
    sizes = [len(pipes.isolation(s).valves) for s in water[:200:10]]
    assert all(1 <= n <= 60 for n in sizes), sizes
    sewer = PipeSegment.objects.select_related("network").filter(network__kind="sewer").order_by("code")[100]
    down = pipes.flow(sewer, "down")
    assert down["points"] and down["points"][-1]["code"].startswith("WS-M")
    # Hydrants and manholes are census components too, where the catalogue has their class.
    from assets.models import PipePoint

    manhole = PipePoint.objects.select_related("component").filter(kind="manhole").first()
    assert manhole.component.subclass == "BJ0102" and manhole.component.geom.equals(manhole.geom)
    assert not PipePoint.objects.filter(kind__in=["manhole", "hydrant"], component__isnull=True).exists()
