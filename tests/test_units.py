"""Response units and the crews' phones behind their page: who lists and adds units where, a crew's phone account
commanding its own unit only (position, duty, steps), the unit with its open assignment, the feed following the
cases its unit is sent to, duty, the model's own checks, and the demo's units."""

import pytest
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from citygrid import roles
from dispatch.emergency import nearest_units, send_units
from dispatch.models import ResponseUnit, UnitAssignment
from grids.models import Bureau
from incidents import intake
from tests.conftest import api_client, make_user, point_in


@pytest.fixture
def fleet(people):
    """Units of three bureaus — the west district's city management (two, one with a crew's phone), the city's
    water bureau, and the east district's city management — and an emergency in the west district."""
    lon, lat = point_in(people["a"])
    east_cg = Bureau.objects.create(code="430304-CG", name="岳塘区城管局", kind=Bureau.Kind.CITY_MANAGEMENT,
                                    district=people["east"])
    crew = make_user("crew1", roles.BUREAU_STAFF, bureau=people["cg"])
    here = {"position": Point(lon + 0.001, lat, srid=4326), "position_at": timezone.now()}
    units = {
        "cg1": ResponseUnit.objects.create(code="CG-1", name="巡查一组", bureau=people["cg"], account=crew, **here),
        "cg2": ResponseUnit.objects.create(code="CG-2", name="巡查二组", bureau=people["cg"], **here),
        "water": ResponseUnit.objects.create(code="SW-1", name="水务抢修", bureau=people["water"],
                                             kind=ResponseUnit.Kind.REPAIR, **here),
        "east": ResponseUnit.objects.create(code="YT-1", name="岳塘巡查", bureau=east_cg, **here),
    }
    emergency = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0403", urgency="emergency",
                                            source="hotline_12345", description="燃气泄漏")).case
    return {"crew": crew, "units": units, "emergency": emergency, "east_cg": east_cg}


def _codes(user) -> set[str]:
    return {u["code"] for u in api_client(user).get(reverse("dispatch:unit-list")).json()["results"]}


def test_units_are_listed_as_the_user_commands_them(people, fleet):
    west = make_user("disp_west", roles.DISPATCHER, district=people["west"])
    assert _codes(people["dispatcher"]) == {"CG-1", "CG-2", "SW-1", "YT-1"}  # the city's centre: all
    assert _codes(west) == {"CG-1", "CG-2"}  # a district's centre: its district's bureaus
    assert _codes(people["east_dispatcher"]) == {"YT-1"}
    assert _codes(people["cg_staff"]) == {"CG-1", "CG-2"}  # a bureau: its own
    assert _codes(fleet["crew"]) == {"CG-1"}  # a crew's phone: its own unit
    listed = api_client(people["cg_staff"]).get(reverse("dispatch:unit-list")).json()["results"]
    first = next(u for u in listed if u["code"] == "CG-1")
    assert first["bureau_name"] == "雨湖区城管局" and first["district"] == "430302" and first["on_duty"]
    assert api_client(people["leader"]).get(reverse("dispatch:unit-list")).status_code == 403


def test_units_are_added_only_where_the_user_may(people, fleet):
    url = reverse("dispatch:unit-list")
    staff = api_client(people["cg_staff"])
    made = staff.post(url, {"code": "CG-3", "name": "巡查三组", "crew_size": 4, "kind": "patrol"}, format="json")
    assert made.status_code == 201, made.json()
    unit = ResponseUnit.objects.get(code="CG-3")
    assert unit.bureau == people["cg"] and unit.district == people["west"] and unit.crew_size == 4
    other = staff.post(url, {"code": "SW-9", "name": "x", "bureau": "430300-SW"}, format="json")
    assert other.status_code == 400 and "bureau" in other.json()
    west = api_client(make_user("disp_west", roles.DISPATCHER, district=people["west"]))
    assert west.post(url, {"code": "SW-8", "name": "x", "bureau": "430300-SW"}, format="json").status_code == 400
    assert west.post(url, {"code": "CG-8", "name": "x", "bureau": "430302-CG"}, format="json").status_code == 201
    city = api_client(people["dispatcher"])
    assert city.post(url, {"code": "SW-2", "name": "水务二队", "bureau": "430300-SW"}, format="json").status_code == 201
    # A crew's phone adds nothing; bad input is a 400 naming the field, never a 500.
    assert api_client(fleet["crew"]).post(url, {"code": "CG-7", "name": "x"}, format="json").status_code == 400
    for body, fieldname in (({"code": "CG-1", "name": "重复"}, "code"), ({"code": "有 空格", "name": "x"}, "code"),
                            ({"code": "CG-5", "name": "x", "crew_size": 0}, "crew_size"),
                            ({"code": "CG-5", "name": "x", "district": "430304"}, "district"),
                            ({"code": "CG-5", "name": "x", "kind": "tank"}, "kind"), ({"code": "CG-5"}, "name")):
        answer = staff.post(url, body, format="json")
        assert answer.status_code == 400 and fieldname in answer.json(), (body, answer.json())
    assert not ResponseUnit.objects.filter(code="CG-5").exists()


def test_a_crews_phone_commands_its_own_unit_only(people, fleet):
    crew, units = api_client(fleet["crew"]), fleet["units"]
    position = {"lon": 112.886, "lat": 27.883}
    assert crew.post(reverse("dispatch:unit-position", args=["CG-1"]), position, format="json").status_code == 204
    assert crew.post(reverse("dispatch:unit-position", args=["CG-2"]), position, format="json").status_code == 404
    assert crew.get(reverse("dispatch:unit-detail", args=["CG-2"])).status_code == 404
    assert crew.post(reverse("dispatch:unit-duty", args=["CG-2"]), {"on_duty": False}, format="json").status_code == 404
    [mine] = send_units(fleet["emergency"], [units["cg1"]], people["dispatcher"])
    [other] = send_units(fleet["emergency"], [units["cg2"]], people["dispatcher"])
    step = lambda a, s: reverse("dispatch:assignment-step", args=[a.pk, s])  # noqa: E731
    assert crew.post(step(other, "acknowledge")).status_code == 404
    assert crew.post(step(mine, "acknowledge")).status_code == 200
    assert crew.post(step(mine, "acknowledge")).status_code == 400  # each step once
    other.refresh_from_db()
    assert other.acknowledged_at is None
    # The bureau's other staff still command both.
    assert api_client(people["cg_staff"]).post(step(other, "acknowledge")).status_code == 200


def test_the_unit_shows_its_open_assignment_and_next_step(people, fleet):
    crew, unit = api_client(fleet["crew"]), fleet["units"]["cg1"]
    url = reverse("dispatch:unit-detail", args=["CG-1"])
    assert crew.get(url).json()["assignment"] is None
    [sent] = send_units(fleet["emergency"], [unit], people["dispatcher"])
    shown = crew.get(url).json()
    assert shown["state"] == "busy" and shown["assignment"]["id"] == sent.pk
    assert shown["assignment"]["next_step"] == "acknowledge"
    case = shown["assignment"]["case"]
    assert case["number"] == fleet["emergency"].number and case["description"] == "燃气泄漏"
    assert case["place"] == "雨湖区 城正街街道 和平社区" and case["urgency_label"]
    for step, following in (("acknowledge", "arrive"), ("arrive", "clear"), ("clear", None)):
        crew.post(reverse("dispatch:assignment-step", args=[sent.pk, step]))
        after = crew.get(url).json()
        assert (after["assignment"] or {}).get("next_step") == following
    assert after["assignment"] is None and after["state"] == "available"


def test_the_feed_follows_the_cases_a_crews_unit_is_sent_to(people, fleet):
    # The emergency is not the bureau's case (not dispatched to it): its staff do not see it, its crew does once sent.
    client = api_client(fleet["crew"])
    assert all(e["case"]["number"] != fleet["emergency"].number
               for e in client.get(reverse("dispatch:events")).json()["events"])
    assert client.get(reverse("incidents:case-detail", args=[fleet["emergency"].number])).status_code == 404
    send_units(fleet["emergency"], [fleet["units"]["cg1"]], people["dispatcher"])
    actions = [e["action"] for e in client.get(reverse("dispatch:events")).json()["events"]
               if e["case"]["number"] == fleet["emergency"].number]
    assert "units_sent" in actions
    other = api_client(people["cg_staff"]).get(reverse("dispatch:events")).json()["events"]
    assert all(e["case"]["number"] != fleet["emergency"].number for e in other)


def test_off_duty_units_are_not_sent_and_a_busy_one_stays_on_duty(people, fleet):
    crew, unit = api_client(fleet["crew"]), fleet["units"]["cg1"]
    url = reverse("dispatch:unit-duty", args=["CG-1"])
    off = crew.post(url, {"on_duty": False}, format="json")
    assert off.status_code == 200 and off.json()["state"] == "offline" and not off.json()["on_duty"]
    assert "CG-1" not in [u.code for u, _ in nearest_units(fleet["emergency"].location, limit=10)]
    assert crew.post(url, {"on_duty": "maybe"}, format="json").status_code == 400
    assert crew.post(url, {"on_duty": True}, format="json").json()["state"] == "available"
    send_units(fleet["emergency"], [unit], people["dispatcher"])
    refused = crew.post(url, {"on_duty": False}, format="json")
    assert refused.status_code == 400 and "on_duty" in refused.json()
    unit.refresh_from_db()
    assert unit.state == "busy"


def test_a_crews_account_must_be_bureau_staff_of_the_units_bureau(people, fleet):
    unit = fleet["units"]["water"]
    unit.account = people["cg_staff"]  # another bureau's staff
    with pytest.raises(ValidationError, match="account"):
        unit.full_clean()
    unit.account = people["dispatcher"]
    with pytest.raises(ValidationError, match="account"):
        unit.full_clean()
    unit.account = people["water_staff"]
    unit.full_clean()
    district_unit = fleet["units"]["east"]
    district_unit.district = people["west"]
    with pytest.raises(ValidationError, match="district"):
        district_unit.full_clean()


def test_a_crews_phone_lands_on_its_page(client, people, fleet):
    client.force_login(fleet["crew"])
    assert client.get("/")["Location"] == "/unit/"
    page = client.get("/unit/").content.decode()
    assert "巡查一组" in page and 'data-unit="CG-1"' in page
    client.force_login(people["cg_staff"])  # the bureau's desk: the workbench; /unit/ explains what it is for
    assert client.get("/")["Location"] == "/bureau/"
    assert "不是处置力量的手机账号" in client.get("/unit/").content.decode()


def test_unit_assignments_are_read_only_in_the_admin(client, people, fleet):
    from django.contrib.auth.models import User

    [sent] = send_units(fleet["emergency"], [fleet["units"]["cg1"]], people["dispatcher"])
    client.force_login(User.objects.create_superuser("root", password="Correct-horse-42"))
    assert client.get(reverse("admin:dispatch_unitassignment_add")).status_code == 403
    change = client.get(reverse("admin:dispatch_unitassignment_change", args=[sent.pk]))
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    client.post(reverse("admin:dispatch_unitassignment_change", args=[sent.pk]), {"cleared_at_0": "2026-01-01"})
    sent.refresh_from_db()
    assert sent.cleared_at is None
    assert UnitAssignment.objects.count() == 1


def test_demo_units_and_crews(db):
    from django.core.management import call_command

    call_command("load_demo")
    assert ResponseUnit.objects.count() >= 7
    crew = ResponseUnit.objects.get(code="CG-01")
    assert crew.account.username == "crew_cg1" and crew.account.profile.bureau == crew.bureau
    assert {u.kind for u in ResponseUnit.objects.all()} >= {"patrol", "repair", "rescue", "vehicle"}
    assert ResponseUnit.objects.filter(district__isnull=True).count() == 0


def test_the_system_administrator_keeps_units_and_weights_in_the_admin(client, people, fleet):
    admin_user = make_user("sys", roles.ADMIN)
    admin_user.is_staff = True
    admin_user.save()
    client.force_login(admin_user)
    add = reverse("admin:dispatch_responseunit_add")
    form = {"code": "CG-9", "name": "夜间巡查组", "kind": "patrol", "bureau": people["cg"].pk, "district": "",
            "crew_size": 3, "state": "offline", "account": people["water_staff"].pk}
    refused = client.post(add, form)  # another bureau's staff cannot be this unit's phone
    assert refused.status_code == 200 and not ResponseUnit.objects.filter(code="CG-9").exists()
    crew2 = make_user("crew2", roles.BUREAU_STAFF, bureau=people["cg"])
    assert client.post(add, {**form, "account": crew2.pk}).status_code == 302
    unit = ResponseUnit.objects.get(code="CG-9")
    assert unit.account == crew2 and unit.district == people["west"] and not unit.on_duty
    change = client.get(reverse("admin:dispatch_responseunit_change", args=[unit.pk])).content.decode()
    assert "夜间巡查组" in change and 'name="position"' not in change  # positions come from the phone only

    weights = reverse("admin:dispatch_evaluationweight_add")
    page = client.get(weights).content.decode()
    assert "按期结案率" in page and "on_time_closure_rate</option>" not in page  # indicators by name
    assert client.post(weights, {"metric": "on_time_closure_rate", "weight": -1}).status_code == 200  # refused
    assert client.post(weights, {"metric": "nonsense", "weight": 1}).status_code == 200  # refused
    assert client.post(weights, {"metric": "on_time_closure_rate", "weight": 5}).status_code == 302
    from dispatch.evaluation import weights as current

    assert current()["on_time_closure_rate"] == 5
    from dispatch.models import StageLimit

    StageLimit.objects.filter(stage="verify").delete()
    assert client.post(reverse("admin:dispatch_stagelimit_add"),
                       {"stage": "verify", "urgency": "", "hours": 4}).status_code == 302
    assert StageLimit.objects.get(stage="verify", urgency="").hours == 4
