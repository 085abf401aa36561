"""Object scopes, generated from the URL patterns and the policy: every URL that names an object declares its
scope, and every such endpoint is called, with every method it answers, by an out-of-scope user of every role
the policy lets through (404 expected) and by an insider (anything but 404, so the object is really there)."""

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from citygrid import roles, scopes
from citygrid.models import AuditEvent
from citygrid.policy import EVERYONE, PUBLIC, PUBLIC_OBJECTS, SAFE_METHODS, policy_for
from tests.conftest import api_client, jpeg, make_user, point_in


def _object_urls(patterns=None, prefix=""):
    """(view name, pattern, view class) of every URL pattern that takes a parameter."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            yield from _object_urls(p.url_patterns, prefix + (f"{p.namespace}:" if p.namespace else ""))
        elif isinstance(p, URLPattern) and p.pattern.converters:
            view = getattr(p.callback, "cls", None) or getattr(p.callback, "view_class", None)
            yield prefix + (p.name or ""), p, view


OBJECT_URLS = sorted({name: (name, cls) for name, _, cls in _object_urls() if not name.startswith("admin:")}.values(),
                     key=lambda item: item[0])


def test_every_url_naming_an_object_declares_its_scope():
    undeclared = [name for name, _ in OBJECT_URLS
                  if policy_for(name) is None or not policy_for(name).scope
                  or policy_for(name).scope not in scopes.registered() | {EVERYONE, PUBLIC_OBJECTS}]
    assert undeclared == []


def test_public_object_scopes_are_on_public_urls_only():
    # "everyone" still needs a role; "public" objects only where the URL itself is public (Open311).
    for name, _ in OBJECT_URLS:
        policy = policy_for(name)
        if policy.scope == PUBLIC_OBJECTS:
            assert policy.read == PUBLIC, name


@pytest.fixture
def world(people):
    """One case in the west district, dispatched to the west district's city-management bureau, with a photo,
    a unit of that bureau sent to it; insiders who may reach all of it and outsiders of every role."""
    from dispatch.emergency import send_units
    from dispatch.models import ResponseUnit
    from incidents import intake, lifecycle
    from incidents.models import Photo

    lon, lat = point_in(people["a"])
    from django.core.files.uploadedfile import SimpleUploadedFile

    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0403", source="inspector", urgency="emergency",
                                       photos=[SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg")]),
                         reporter=people["inspector"]).case
    case = lifecycle.register(case, people["dispatcher"])
    case.refresh_from_db()
    if case.status != "dispatched":
        case = lifecycle.dispatch(case, people["dispatcher"], bureau=people["cg"])
    unit = ResponseUnit.objects.create(code="CG-01", name="雨湖城管一队", bureau=people["cg"],
                                       position=Point(lon, lat, srid=4326), position_at=timezone.now())
    [assignment] = send_units(case, [unit], people["dispatcher"])
    east = people["east"]
    outsiders = {
        roles.INSPECTOR: people["other_inspector"],
        roles.OPERATOR: make_user("oper_east", roles.OPERATOR, district=east),
        roles.DISPATCHER: people["east_dispatcher"],
        roles.BUREAU_STAFF: people["water_staff"],
        roles.LEADER: make_user("lead_east", roles.LEADER, district=east),
        roles.ADMIN: make_user("sysadmin", roles.ADMIN),
        roles.SECADMIN: make_user("secadmin", roles.SECADMIN),
        roles.AUDITOR: make_user("auditor", roles.AUDITOR),
    }
    insiders = [people["dispatcher"], people["cg_staff"], people["inspector"], people["leader"]]
    kwargs = {"number": case.number, "action": "accept", "pk": None, "variant": "image", "step": "acknowledge",
              "code": unit.code, "fmt": "pdf", "seq": 1}
    from dispatch.bulletin import issue, month_of

    bulletin = issue(month_of(timezone.localdate()), people["west"].pk)  # the west district's, this month's
    from monitoring.models import Sensor, SensorKind

    sensor = Sensor.objects.create(code="WL-001", kind=SensorKind.objects.get(code="manhole_level"),
                                   owner=people["cg"], position=Point(lon, lat, srid=4326))
    from assets import census, codes
    from assets.models import Component

    component = Component(code=codes.make_code("430302", "BJ0108", 1), subclass="BJ0108",
                          geom=Point(lon, lat, srid=4326), bureau=people["cg"])  # in the inspector's cells
    census.save_component(component, people["dispatcher"])
    from assets.building import build_network
    from assets.models import PipeNetwork

    network = PipeNetwork.objects.create(code="W1", name="城区给水管网", kind="water", bureau=people["cg"])
    build_network(network, [("P1", "junction", lon, lat), ("V1", "valve", lon + 2e-4, lat)], [("W-1", "P1", "V1")],
                  {"diameter_mm": 300})  # in the west district, the city-management bureau's to keep
    from alerts import rules as warning_rules

    west_centre = make_user("disp_west_w", roles.DISPATCHER, district=people["west"])
    warning = warning_rules.issue(west_centre, warning_rules.Draft(
        type="rainstorm", level="yellow", headline="暴雨黄色预警", description="雨湖区有强降雨。",
        area={"type": "Polygon", "coordinates": [[[lon - .005, lat - .005], [lon + .005, lat - .005],
                                                  [lon + .005, lat + .005], [lon - .005, lat - .005]]]},
        expires=timezone.now() + timedelta(hours=6)))  # the west district's centre's
    from emergency import command
    from emergency.catalogue import load_event_types
    from emergency.models import EventType, Headquarters, Plan, PlanTask

    load_event_types()  # an incident in the west, its plan's one task the west's city-management bureau's
    hq = Headquarters.objects.create(code="hq", name="防汛抗旱指挥部")
    plan = Plan.objects.create(code="p", name="防汛预案", event_type=EventType.objects.get(code="flood"),
                               headquarters=hq)
    PlanTask.objects.create(plan=plan, kind="cordon", title="现场警戒", bureau=people["cg"], limit_minutes=30)
    incident = command.open_incident(people["dispatcher"], title="积水", event_type=plan.event_type, level=3,
                                     case=case)
    [task] = command.activate_plan(people["dispatcher"], incident)
    objects = {"case": {"number": case.number},
               "incident": {"number": incident.number}, "incident-task": {"pk": task.pk},
               "photo": {"pk": Photo.objects.filter(case=case).first().pk},
               "assignment": {"pk": assignment.pk},
               "unit": {"code": unit.code},
               "area-figures": {"code": people["a"].code},
               "bulletin": {"pk": bulletin.pk},
               "sensor": {"code": sensor.code}, "component": {"code": component.code}, "segment": {"code": "W-1"},
               "warning": {"pk": warning.pk}}
    return {"case": case, "kwargs": kwargs, "objects": objects, "outsiders": outsiders, "insiders": insiders}


def _url(name: str, pattern_kwargs: dict, world) -> str:
    scope = policy_for(name).scope
    values = {**world["kwargs"], **world["objects"].get(scope, {})}
    return reverse(name, kwargs={k: values[k] for k in pattern_kwargs})


def _call(user, method: str, url: str):
    client = api_client(user)
    if not url.startswith("/api/"):
        client.force_login(user)
    if method == "GET":
        return client.get(url)
    return getattr(client, method.lower())(url, {}, format="json")


SCOPED = [(name, cls) for name, cls in OBJECT_URLS
          if policy_for(name) and policy_for(name).scope not in (EVERYONE, PUBLIC_OBJECTS)]


def test_every_registered_scope_is_exercised_here():
    used = {policy_for(name).scope for name, _ in SCOPED}
    assert used <= scopes.registered()
    assert used, "no scoped endpoints found"


@pytest.mark.parametrize(("name", "cls"), SCOPED, ids=[name for name, _ in SCOPED])
def test_out_of_scope_users_of_every_allowed_role_get_404(world, name, cls):
    pattern = next(p for n, p, _ in _object_urls() if n == name)
    url = _url(name, pattern.pattern.converters, world)
    policy = policy_for(name)
    methods = [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if hasattr(cls, m.lower())]
    tried = 0
    for method in methods:
        allowed = policy.read if method in SAFE_METHODS else policy.write
        for role in sorted(allowed):
            response = _call(world["outsiders"][role], method, url)
            assert response.status_code == 404, (name, method, role, response.status_code)
            tried += 1
        insider_statuses = [_call(u, method, url).status_code for u in world["insiders"]
                            if roles.user_roles(u) & allowed]
        assert any(s != 404 for s in insider_statuses), (name, method, insider_statuses)
    assert tried, name
    # A probe of an object that exists is recorded; a typo is not.
    assert AuditEvent.objects.filter(action="out_of_scope", result="denied").exists()


def test_a_cross_district_dispatcher_cannot_step_another_districts_unit(world, people):
    """The probe that found the hole: 岳塘's dispatcher stepping and moving 雨湖's unit."""
    from dispatch.models import ResponseUnit, UnitAssignment

    assignment = UnitAssignment.objects.get(case=world["case"])
    client = api_client(people["east_dispatcher"])
    for step in ("acknowledge", "arrive", "clear"):
        assert client.post(reverse("dispatch:assignment-step", args=[assignment.pk, step])).status_code == 404
    assert client.post(reverse("dispatch:unit-position", args=["CG-01"]), {"lon": 112.95, "lat": 27.85},
                       format="json").status_code == 404
    assignment.refresh_from_db()
    assert assignment.acknowledged_at is None and ResponseUnit.objects.get(code="CG-01").state == "busy"
    assert not world["case"].log.filter(action__startswith="unit_").exists()


def test_a_district_dispatcher_sends_and_sees_only_his_districts_units(world, people):
    from dispatch.models import ResponseUnit

    lon, lat = point_in(people["a"])
    ResponseUnit.objects.create(code="EAST-01", name="岳塘抢修", bureau=make_bureau_east(people),
                                position=Point(lon, lat, srid=4326), position_at=timezone.now())
    west = make_user("disp_west", roles.DISPATCHER, district=people["west"])
    near = api_client(west).get(reverse("dispatch:nearest-units", args=[world["case"].number])).json()
    assert "EAST-01" not in [u["code"] for u in near["units"]]
    sent = api_client(west).post(reverse("dispatch:send-units", args=[world["case"].number]), {"units": ["EAST-01"]},
                                 format="json")
    assert sent.status_code == 400 and "EAST-01" in sent.json()["units"][0]
    assert ResponseUnit.objects.get(code="EAST-01").state == "available"


def test_a_case_goes_to_a_city_bureau_or_one_of_its_districts_only(world, people):
    """A district's bureau works its district: 岳塘's bureau is refused a 雨湖 case, by the city's dispatcher too,
    and never sees it; a city bureau and 雨湖's own are accepted."""
    from incidents import lifecycle

    case = world["case"]
    east_cg = make_bureau_east(people)
    case = lifecycle.return_case(case, people["cg_staff"], reason="不是本单位")
    url = reverse("incidents:case-action", args=[case.number, "dispatch"])
    refused = api_client(people["dispatcher"]).post(url, {"bureau": east_cg.code, "version": case.version},
                                                    format="json")
    assert refused.status_code == 400 and "岳塘区城管局" in refused.json()["bureau"][0]
    case.refresh_from_db()
    assert case.bureau_id is None and case.status == "returned"
    east_staff = make_user("cg_east", roles.BUREAU_STAFF, bureau=east_cg)
    assert api_client(east_staff).get(reverse("incidents:case-detail", args=[case.number])).status_code == 404
    assert lifecycle.bureau_serves(people["water"], case) and lifecycle.bureau_serves(people["cg"], case)
    sent = api_client(people["dispatcher"]).post(url, {"bureau": people["water"].code, "version": case.version},
                                                 format="json")
    assert sent.status_code == 200 and sent.json()["properties"]["bureau"] == people["water"].code


def test_a_case_is_merged_only_into_a_case_the_user_sees(world, people):
    from incidents import intake

    east_operator = world["outsiders"][roles.OPERATOR]
    east_case = intake.submit(intake.Report(lon=112.95, lat=27.85, category="SJ0601", source="hotline_12345"),
                              reporter=east_operator).case
    assert east_case.district == people["east"]
    url = reverse("incidents:case-action", args=[east_case.number, "merge"])
    refused = api_client(east_operator).post(url, {"into": world["case"].number, "version": east_case.version},
                                             format="json")
    assert refused.status_code == 400 and "into" in refused.json()
    east_case.refresh_from_db()
    assert east_case.status == "reported" and east_case.merged_into_id is None


def make_bureau_east(people):
    from grids.models import Bureau

    return Bureau.objects.create(code="430304-CG", name="岳塘区城管局", kind=Bureau.Kind.CITY_MANAGEMENT,
                                 district=people["east"])


def test_evaluation_is_scoped_to_the_district(world, people):
    from incidents import intake

    lon, lat = people["east"].geom.point_on_surface.coords
    intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="hotline_12345"))
    today = timezone.localdate()
    params = {"start": str(today), "end": str(today + timedelta(days=1))}
    city = api_client(people["dispatcher"]).get(reverse("dispatch:evaluation"), {"dimension": "district", **params})
    assert {r["code"] for r in city.json()["results"]} == {"430302", "430304"}
    east = api_client(people["east_dispatcher"])
    assert {r["code"] for r in east.get(reverse("dispatch:evaluation"),
                                       {"dimension": "district", **params}).json()["results"]} == {"430304"}
    inspectors = east.get(reverse("dispatch:evaluation"), {"dimension": "inspector", **params}).json()["results"]
    assert inspectors == []  # the west district's inspector, and his name, stay with the west
