"""Emergency command (issue 17): incidents, levels, plans and their tasks, resources, scope, the append-only log,
situation reports and drills — through the rules and the API, on the small test city and real PostGIS."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from citygrid import roles
from citygrid.models import AuditEvent
from emergency import command
from emergency.models import Incident, IncidentLog, IncidentTask, Plan, PlanTask
from tests.conftest import api_client, make_user, point_in
from tests.emergency_city import emergency_city, flood_case, square


@pytest.fixture
def em(people):
    return {**people, **emergency_city(people)}


def _open_from_case(em, **kw):
    case = flood_case(em)
    incident = command.open_incident(em["west_dispatcher"], title="雨湖区城正街积水", event_type=em["flood"], level=4,
                                     case=case, **kw)
    return incident, case


def test_open_from_an_emergency_case_takes_the_case_and_its_district(em):
    incident, case = _open_from_case(em)
    assert incident.number.startswith("YJ") and incident.status == "occurred" and incident.level == 4
    assert list(incident.districts.values_list("code", flat=True)) == ["430302"]
    assert incident.area.contains(case.location)
    assert incident.case_links.get().case == case
    assert [e.action for e in incident.log.all()] == ["open", "case_added"]
    with pytest.raises(command.InvalidAction):  # a case belongs to one incident
        command.open_incident(em["dispatcher"], title="again", event_type=em["flood"], level=4, case=case)


def test_open_refuses_bad_input_and_other_districts(em):
    lon, lat = point_in(em["a"])
    with pytest.raises(command.InvalidAction):  # no area, no case, no alarm
        command.open_incident(em["dispatcher"], title="x", event_type=em["flood"], level=4)
    with pytest.raises(command.InvalidAction):
        command.open_incident(em["dispatcher"], title="x", event_type=em["flood"], level=7, area=square(lon, lat))
    with pytest.raises(command.InvalidAction):  # the east centre cannot open one in the west only
        command.open_incident(em["east_dispatcher"], title="x", event_type=em["flood"], level=4,
                              area=square(lon, lat, 0.002))
    with pytest.raises(PermissionDenied):
        command.open_incident(em["cg_staff"], title="x", event_type=em["flood"], level=4, area=square(lon, lat))
    normal = flood_case(em, urgency="normal")
    normal.category = type(normal.category).objects.get(code="BJ0109")
    normal.save(update_fields=["category"])
    with pytest.raises(command.InvalidAction):  # only an emergency case opens one
        command.open_incident(em["dispatcher"], title="x", event_type=em["flood"], level=4, case=normal)


def test_an_incident_goes_under_a_headquarters_its_opener_may_name(em):
    """A district's centre names its own district's headquarters, not the city's nor another district's (whose
    people would then see and command the incident); the city's centre names any; refused through the API too."""
    from emergency.models import Headquarters

    lon, lat = point_in(em["a"])
    east_hq = Headquarters.objects.create(code="east-flood", name="岳塘区防汛指挥部", district=em["east"])
    west_hq = Headquarters.objects.create(code="west-flood", name="雨湖区防汛指挥部", district=em["west"])
    for hq in (east_hq, em["hq"]):
        with pytest.raises(command.InvalidAction) as refused:
            command.open_incident(em["west_dispatcher"], title="x", event_type=em["flood"], level=4,
                                  area=square(lon, lat), headquarters=hq)
        assert hq.name in refused.value.errors["headquarters"][0]
    body = {"title": "积水", "event_type": "flood", "level": 4, "area": square(lon, lat), "headquarters": "east-flood"}
    answer = api_client(em["west_dispatcher"]).post("/api/emergency/incidents/", body, format="json")
    assert answer.status_code == 400 and "岳塘区防汛指挥部" in answer.json()["headquarters"][0]
    assert not Incident.objects.exists()
    mine = command.open_incident(em["west_dispatcher"], title="x", event_type=em["flood"], level=4,
                                 area=square(lon, lat), headquarters=west_hq)
    city = command.open_incident(em["dispatcher"], title="y", event_type=em["flood"], level=4,
                                 area=square(lon, lat), headquarters=east_hq)
    assert (mine.headquarters, city.headquarters) == (west_hq, east_hq)


def test_objects_named_in_a_body_or_query_are_taken_from_the_users_scope(em):
    """The east centre names the west's case to open an incident with, to take into an incident both centres
    see, and the west's incident to list resources within: each refused (400) as if it did not exist, nothing
    made."""
    east = api_client(em["east_dispatcher"])
    case = flood_case(em)
    opened = east.post("/api/emergency/incidents/", {"title": "x", "event_type": "flood", "level": 4,
                                                     "case": case.number}, format="json")
    assert opened.status_code == 400 and "case" in opened.json()
    assert not Incident.objects.exists()
    lon, lat = point_in(em["a"])
    across = command.open_incident(em["dispatcher"], title="跨区积水", event_type=em["flood"], level=4,
                                   area=square(112.90, lat, 0.01))  # both districts: the east centre sees it
    added = east.post(f"/api/emergency/incidents/{across.number}/add-case/", {"case": case.number,
                                                                              "version": across.version},
                      format="json")
    assert added.status_code == 400 and "case" in added.json()
    assert not across.case_links.exists()
    west_only, _ = _open_from_case(em)
    assert east.get("/api/emergency/resources/", {"within": west_only.number}).status_code == 400
    assert api_client(em["west_dispatcher"]).get("/api/emergency/resources/",
                                                 {"within": west_only.number}).status_code == 200


def test_open_from_a_sensor_alarm(em):
    from monitoring.models import AlarmEpisode, Sensor, SensorKind

    lon, lat = point_in(em["a"])
    sensor = Sensor.objects.create(code="YW-0201", kind=SensorKind.objects.get(code="manhole_level"),
                                   position=f"SRID=4326;POINT({lon} {lat})", owner=em["cg"])
    now = timezone.now()
    episode = AlarmEpisode.objects.create(sensor=sensor, level="alarm", peak_level="alarm", direction="above",
                                          started_at=now, peak_value=2.9, peak_at=now)
    api = api_client(em["west_dispatcher"])
    r = api.post("/api/emergency/incidents/", {"title": "排水井满溢", "event_type": "rainstorm", "level": 4,
                                               "sensor": "YW-0201"}, format="json")
    assert r.status_code == 201, r.content
    incident = Incident.objects.get(number=r.json()["number"])
    assert incident.episode == episode and incident.area.contains(sensor.position)
    assert incident.log.first().data["source"] == "alarm"


def test_level_change_needs_a_reason_is_logged_and_reevaluates_the_plan(em):
    incident, _ = _open_from_case(em)
    with pytest.raises(command.InvalidAction):
        command.change_level(em["west_dispatcher"], incident, 3, "")
    result = command.change_level(em["west_dispatcher"], incident, 3, "积水范围扩大，两处小区进水")
    assert result["incident"].level == 3 and result["suggested_plan"] == em["plan"]
    actions = [(e.action, e.note) for e in incident.log.all()]
    assert ("level_up", "积水范围扩大，两处小区进水") in actions and actions[-1][0] == "plan_reevaluated"
    command.activate_plan(em["dispatcher"], incident)
    # lowered to IV, outside the active plan's I–III: the plan is re-evaluated (none covers IV) and said so
    result = command.change_level(em["dispatcher"], incident, 4, "水位回落")
    assert result["suggested_plan"] is None
    last = incident.log.order_by("-id").first()
    assert last.action == "plan_reevaluated" and last.data["active_plan"] == "flood"


def test_activation_creates_the_tasks_with_deadlines_and_only_the_city_may(em):
    incident, _ = _open_from_case(em)
    with pytest.raises(command.InvalidAction):  # level IV: the flood plan covers I–III
        command.activate_plan(em["dispatcher"], incident)
    command.change_level(em["west_dispatcher"], incident, 3, "扩大")
    incident.refresh_from_db()
    with pytest.raises(PermissionDenied):  # a city headquarters' plan: not a district centre's to activate
        command.activate_plan(em["west_dispatcher"], incident)
    before = timezone.now()
    tasks = command.activate_plan(em["dispatcher"], incident)
    incident.refresh_from_db()
    assert incident.status == "responding" and incident.plan == em["plan"] and incident.headquarters == em["hq"]
    assert [(t.bureau, t.limit_minutes) for t in tasks] == [(em["cg"], 30), (em["water"], 60), (em["cg"], 45)]
    assert all(before + timedelta(minutes=t.limit_minutes) <= t.due_at for t in tasks)
    with pytest.raises(command.Conflict):
        command.activate_plan(em["dispatcher"], incident)
    entry = incident.log.get(action="plan_activated")
    assert entry.data["notified"] == ["雨湖区城管局"] and len(entry.data["tasks"]) == 3


def test_a_plan_task_without_an_owner_is_refused(em):
    from django.core.exceptions import ValidationError

    t = PlanTask(plan=em["plan"], kind="other", title="无人负责", limit_minutes=10)
    with pytest.raises(ValidationError):
        t.full_clean()
    t.save()  # written around the admin: the activation still refuses it
    incident, _ = _open_from_case(em)
    command.change_level(em["west_dispatcher"], incident, 3, "扩大")
    with pytest.raises(command.InvalidAction):
        command.activate_plan(em["dispatcher"], incident)


def test_tasks_reach_the_bureau_and_the_crew_and_are_acknowledged_and_done(em):
    incident, _ = _open_from_case(em)
    command.change_level(em["west_dispatcher"], incident, 3, "扩大")
    command.activate_plan(em["dispatcher"], incident)
    water_task = IncidentTask.objects.get(incident=incident, bureau=em["water"])
    staff = api_client(em["water_staff"])
    mine = staff.get("/api/emergency/tasks/").json()["results"]
    assert [t["id"] for t in mine] == [water_task.pk]
    assert staff.get("/api/emergency/tasks/").json()["results"][0]["incident_title"] == "雨湖区城正街积水"
    crew = api_client(em["crew"])
    assert crew.get("/api/emergency/tasks/").json()["results"] == []  # not yet the crew's
    assert staff.post(f"/api/emergency/tasks/{water_task.pk}/acknowledge/").status_code == 200
    assert staff.post(f"/api/emergency/tasks/{water_task.pk}/acknowledge/").status_code == 409
    from dispatch.models import ResponseUnit

    ResponseUnit.objects.create(code="CG-01", name="雨湖城管一队", bureau=em["cg"])  # another bureau's crew
    r = staff.post(f"/api/emergency/tasks/{water_task.pk}/assign/", {"unit": "CG-01"}, format="json")
    assert r.status_code == 400 and "unit" in r.json()
    water_task.refresh_from_db()
    assert water_task.unit_id is None
    r = staff.post(f"/api/emergency/tasks/{water_task.pk}/assign/", {"unit": "SW-01"}, format="json")
    assert r.status_code == 200 and r.json()["unit"] == "SW-01"
    assert [t["id"] for t in crew.get("/api/emergency/tasks/").json()["results"]] == [water_task.pk]
    assert crew.post(f"/api/emergency/tasks/{water_task.pk}/done/", {"note": ""}, format="json").status_code == 400
    r = crew.post(f"/api/emergency/tasks/{water_task.pk}/done/", {"note": "两台泵车抢排完毕"}, format="json")
    assert r.status_code == 200 and r.json()["state"] == "done"
    cg_task = IncidentTask.objects.filter(incident=incident, bureau=em["cg"]).first()
    # another bureau's task: not found for the water bureau, nor for its crew
    assert staff.post(f"/api/emergency/tasks/{cg_task.pk}/acknowledge/").status_code == 404
    assert crew.post(f"/api/emergency/tasks/{cg_task.pk}/done/", {"note": "x"}, format="json").status_code == 404
    actions = list(incident.log.values_list("action", flat=True))
    assert {"task_acknowledge", "task_assign", "task_done"} <= set(actions)


def test_overdue_tasks_escalate_once(em):
    incident, _ = _open_from_case(em)
    command.change_level(em["west_dispatcher"], incident, 3, "扩大")
    command.activate_plan(em["dispatcher"], incident)
    later = timezone.now() + timedelta(minutes=50)
    assert command.escalate_overdue_tasks(later) == 2  # the 30 and 45 minute tasks
    assert command.escalate_overdue_tasks(later) == 0
    assert incident.log.filter(action="task_escalated").count() == 2
    rows = api_client(em["cg_staff"]).get("/api/emergency/tasks/").json()["results"]
    assert all(r["escalated"] for r in rows)


def test_the_incident_log_is_append_only_in_the_database(em):
    incident, _ = _open_from_case(em)
    entry = incident.log.first()
    with pytest.raises(DatabaseError), transaction.atomic():
        IncidentLog.objects.filter(pk=entry.pk).update(note="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        IncidentLog.objects.filter(pk=entry.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("ALTER TABLE emergency_incidentlog DISABLE TRIGGER ALL")


def test_status_moves_forward_and_the_end_needs_a_word(em):
    incident, _ = _open_from_case(em)
    api = api_client(em["west_dispatcher"])
    url = f"/api/emergency/incidents/{incident.number}"
    assert api.post(f"{url}/status/", {"status": "handling"}, format="json").status_code == 200
    assert api.post(f"{url}/status/", {"status": "responding"}, format="json").status_code == 409
    assert api.post(f"{url}/end/", {"note": ""}, format="json").status_code == 400
    assert api.post(f"{url}/end/", {"note": "积水排除，交通恢复"}, format="json").status_code == 200
    assert api.post(f"{url}/level/", {"level": 3, "reason": "x"}, format="json").status_code == 409
    assert api.post(f"{url}/nonsense/", {}, format="json").status_code == 400


def test_cases_inside_the_area_are_offered_and_taken_in(em):
    incident, first = _open_from_case(em)
    later = flood_case(em)
    outside = flood_case(em, community="b")
    command.change_area(em["west_dispatcher"], incident, square(*point_in(em["a"]), half=0.001))
    api = api_client(em["west_dispatcher"])
    offered = [c["number"] for c in api.get(f"/api/emergency/incidents/{incident.number}/offered-cases/")
               .json()["results"]]
    assert later.number in offered and first.number not in offered and outside.number not in offered
    r = api.post(f"/api/emergency/incidents/{incident.number}/add-case/", {"case": later.number}, format="json")
    assert r.status_code == 200
    assert later.number not in [c["number"] for c in api.get(
        f"/api/emergency/incidents/{incident.number}/offered-cases/").json()["results"]]


def test_resources_nearest_within_and_mobilised(em):
    lon, lat = point_in(em["a"])
    api = api_client(em["dispatcher"])
    near = api.get(f"/api/emergency/resources/?near={lon},{lat}&limit=2").json()["results"]
    assert [r["code"] for r in near] == ["BN-01", "WZ-01"] and near[0]["distance_m"] < near[1]["distance_m"]
    assert "沙袋 5000条" in near[1]["items"]
    assert api.get("/api/emergency/resources/?near=abc").status_code == 400
    incident, _ = _open_from_case(em)
    within = api.get(f"/api/emergency/resources/?within={incident.number}").json()["results"]
    assert {r["code"] for r in within} == {"BN-01", "WZ-01"}
    r = api.post(f"/api/emergency/incidents/{incident.number}/mobilise/", {"resource": "WZ-01", "note": "沙袋2000条"},
                 format="json")
    assert r.status_code == 200
    board = api.get(f"/api/emergency/incidents/{incident.number}/board/").json()
    assert {x["code"]: x["mobilised"] for x in board["resources"]}["WZ-01"] is True
    assert "JY-09" not in {x["code"] for x in board["resources"]}


def test_board_shows_the_layers_in_scope(em):
    incident, case = _open_from_case(em)
    board = api_client(em["west_dispatcher"]).get(f"/api/emergency/incidents/{incident.number}/board/").json()
    assert board["incident"]["drill"] is False and board["area"]["type"] == "MultiPolygon"
    columns = board["cases"]["columns"]
    assert columns["number"] == [case.number] and columns["taken_in"] == [True]
    scale = board["cases"]["scale"]
    assert (columns["lon"][0] / scale, columns["lat"][0] / scale) == pytest.approx(case.location.coords, abs=1e-6)
    assert board["cases"]["categories"][str(columns["category"][0])] == case.category.name_zh
    assert [e["action"] for e in board["timeline"]] == ["open", "case_added"]
    assert board["units"] == []  # the west centre commands the west's bureaus' units, not the city's water crew
    city = api_client(em["dispatcher"]).get(f"/api/emergency/incidents/{incident.number}/board/").json()
    assert [u["code"] for u in city["units"]] == ["SW-01"]
    # The pipes in the area, counted by network under its name (as people read it), not its code.
    from assets.building import build_network
    from assets.models import PipeNetwork

    lon, lat = case.location.coords
    net = PipeNetwork.objects.create(code="W1", name="雨湖给水管网", kind="water", bureau=em["cg"])
    build_network(net, [("P1", "junction", lon, lat), ("V1", "valve", lon + 1e-4, lat)], [("W-1", "P1", "V1")])
    city = api_client(em["dispatcher"]).get(f"/api/emergency/incidents/{incident.number}/board/").json()
    assert city["pipes"]["by_kind"] == {"给水": 1}


def test_scope_who_sees_an_incident(em):
    incident, case = _open_from_case(em)
    url = f"/api/emergency/incidents/{incident.number}/"
    for who, seen in (("dispatcher", True), ("west_dispatcher", True), ("east_dispatcher", False),
                      ("leader", True), ("water_staff", False), ("hq_member", False), ("inspector", None)):
        r = api_client(em[who]).get(url)
        assert r.status_code == {True: 200, False: 404, None: 403}[seen], (who, r.status_code)
    command.change_level(em["west_dispatcher"], incident, 3, "扩大")
    command.activate_plan(em["dispatcher"], incident)
    # the headquarters now commands: its people and member bureaus see it — the incident, not its cases, which
    # stay the case's district's and bureau's (the detail lists those the reader may see, as the board does)
    assert api_client(em["hq_member"]).get(url).status_code == 200
    assert api_client(em["water_staff"]).get(url).json()["cases"] == []
    assert api_client(em["west_dispatcher"]).get(url).json()["cases"] == [case.number]
    listed = api_client(em["east_dispatcher"]).get("/api/emergency/incidents/").json()["results"]
    assert listed == []


def test_the_bureaus_the_plan_notifies_follow_the_incident_and_command_nothing(em):
    from grids.models import Bureau

    power = Bureau.objects.create(code="430300-DL", name="国网湘潭供电公司", kind=Bureau.Kind.POWER)
    other = Bureau.objects.create(code="430300-RQ", name="湘潭市燃气公司", kind=Bureau.Kind.GAS)
    em["plan"].notify_bureaus.add(power)
    told, untold = make_user("power1", roles.BUREAU_STAFF, bureau=power), make_user("gas1", roles.BUREAU_STAFF,
                                                                                    bureau=other)
    incident, _ = _open_from_case(em)
    url = f"/api/emergency/incidents/{incident.number}/"
    assert api_client(told).get(url).status_code == 404  # not before the plan is active
    command.change_level(em["west_dispatcher"], incident, 3, "扩大")
    command.activate_plan(em["dispatcher"], incident)
    assert api_client(told).get(url).status_code == 200
    assert [i["number"] for i in api_client(told).get("/api/emergency/incidents/").json()["results"]] == [
        incident.number]
    assert api_client(untold).get(url).status_code == 404
    r = api_client(told).post(url + "level/", {"level": 2, "reason": "x"}, format="json")
    assert r.status_code == 403


def test_every_id_taking_url_out_of_scope_is_not_found_and_recorded(em):
    """Every emergency URL naming an object, every method, as an out-of-scope user of each role let through."""
    from django.urls import get_resolver

    from citygrid.policy import POLICIES, SAFE_METHODS

    incident, _ = _open_from_case(em)
    command.change_level(em["west_dispatcher"], incident, 3, "扩大")
    command.activate_plan(em["dispatcher"], incident)
    task = IncidentTask.objects.filter(incident=incident, bureau=em["water"]).first()
    outsiders = {roles.DISPATCHER: em["east_dispatcher"], roles.BUREAU_STAFF: em["cg_staff"],
                 roles.OPERATOR: make_user("oper_east", roles.OPERATOR, district=em["east"]),
                 roles.LEADER: make_user("lead_east", roles.LEADER, district=em["east"])}
    urls = {"emergency:incident-detail": f"/api/emergency/incidents/{incident.number}/",
            "emergency:incident-board": f"/api/emergency/incidents/{incident.number}/board/",
            "emergency:offered-cases": f"/api/emergency/incidents/{incident.number}/offered-cases/",
            "emergency:incident-report": f"/api/emergency/incidents/{incident.number}/report/?as=html",
            "emergency:incident-action": f"/api/emergency/incidents/{incident.number}/level/",
            "emergency:task-step": f"/api/emergency/tasks/{task.pk}/done/",
            "frontend:incident-board": f"/emergency/{incident.number}/",
            "frontend:incident-report": f"/emergency/{incident.number}/report/"}
    resolver = get_resolver()
    named = {name for name in POLICIES if name.startswith(("emergency:", "frontend:incident"))
             and POLICIES[name].scope}
    assert named == set(urls), "an id-taking emergency URL without an out-of-scope probe"
    # cg_staff holds cg tasks of this incident: his bureau's own task is in scope, the water task is not
    urls_for_bureau = {"emergency:task-step"}
    for name, url in urls.items():
        assert resolver.resolve(url.split("?")[0]).view_name == name
        policy = POLICIES[name]
        for method in ("get", "post"):
            allowed = policy.read if method.upper() in SAFE_METHODS else policy.write
            for role, user in outsiders.items():
                if role not in allowed:
                    continue
                if role == roles.BUREAU_STAFF and name not in urls_for_bureau:
                    user = make_user(f"out_{name}_{method}".replace(":", "_")[:30], roles.BUREAU_STAFF,
                                     bureau=em["hq_member"].profile.bureau)
                    em["hq"].people.remove(em["hq_member"])
                client = api_client(user) if url.startswith("/api/") else _page_client(user)
                before = AuditEvent.objects.filter(action="out_of_scope").count()
                r = getattr(client, method)(url, {}, format="json") if url.startswith("/api/") else \
                    getattr(client, method)(url)
                assert r.status_code == 404, (name, method, role, r.status_code)
                assert AuditEvent.objects.filter(action="out_of_scope").count() == before + 1
    # and an insider reaches each (the object is really there)
    insider = api_client(em["dispatcher"])
    for name in ("emergency:incident-detail", "emergency:incident-board", "emergency:incident-report"):
        assert insider.get(urls[name]).status_code == 200


def _page_client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_the_board_offers_decisions_to_whoever_the_rules_let_command(em):
    """A bureau's staff member sitting on the commanding headquarters gets the decisions on the board page (and
    they work); a bureau holding only tasks sees the board without them; offered cases stay the centres'."""
    import json
    import re

    incident, _ = _open_from_case(em)
    command.change_level(em["west_dispatcher"], incident, 3, "扩大")
    command.activate_plan(em["dispatcher"], incident)

    def config(user) -> dict:
        html = _page_client(user).get(f"/emergency/{incident.number}/").content.decode()
        return json.loads(re.search(r'<script id="page-config" type="application/json">(.*?)</script>', html, re.S)[1])

    member, crew_bureau, centre = config(em["hq_member"]), config(em["water_staff"]), config(em["west_dispatcher"])
    assert (member["mayCommand"], member["mayTakeIn"]) == (True, False)
    assert (crew_bureau["mayCommand"], crew_bureau["mayTakeIn"]) == (False, False)
    assert (centre["mayCommand"], centre["mayTakeIn"]) == (True, True)
    r = api_client(em["hq_member"]).post(member["apiAction"] + "level/", {"level": 2, "reason": "水位继续上涨"},
                                         format="json")
    assert r.status_code == 200, r.content
    r = api_client(em["water_staff"]).post(member["apiAction"] + "level/", {"level": 1, "reason": "x"},
                                           format="json")
    assert r.status_code == 403
    incident.refresh_from_db()
    assert incident.level == 2


def _warning_body(incident, **over) -> dict:
    import json

    return {"type": "rainstorm", "level": "red", "headline": "城正街暴雨红色预警",
            "description": "城正街一带积水严重。", "instruction": "低洼地区人员转移。",
            "area": json.loads(incident.area.geojson),
            "expires": (timezone.now() + timedelta(hours=6)).isoformat(), **over}


def test_a_warning_issued_for_an_incident_is_tied_to_it_by_its_number(em):
    """The board's 发布预警: the warning carries the incident's number (CAP <incidents>), the issue is in the
    incident's log and on its board; a drill's warning is a drill whatever the form says; who may not command the
    incident may not, and bad input is 400 with the fields."""
    import xml.etree.ElementTree as ET

    from alerts import cap
    from alerts.models import EarlyWarning

    incident, _ = _open_from_case(em)
    url = f"/api/emergency/incidents/{incident.number}/warning/"
    r = api_client(em["west_dispatcher"]).post(url, _warning_body(incident, exercise=True), format="json")
    assert r.status_code == 200, r.content
    warning = EarlyWarning.objects.get(pk=r.json()["warning"]["id"])
    assert (warning.incident, warning.exercise) == (incident.number, False)
    document = ET.fromstring(warning.log.get().cap_xml.encode())
    cap.schema().validate(document)
    assert document.findtext("cap:incidents", namespaces={"cap": cap.CAP_NS}) == incident.number
    assert incident.log.filter(action="warning_issued", note__contains="城正街暴雨红色预警").count() == 1
    board = api_client(em["dispatcher"]).get(f"/api/emergency/incidents/{incident.number}/board/").json()
    assert [(w["id"], w["level"], w["in_force"]) for w in board["warnings"]] == [(warning.pk, "red", True)]

    drill = command.open_incident(em["west_dispatcher"], title="演练", event_type=em["flood"], level=4,
                                  area=incident.area, drill=True)
    r = api_client(em["west_dispatcher"]).post(f"/api/emergency/incidents/{drill.number}/warning/",
                                               _warning_body(drill), format="json")
    assert r.status_code == 200 and EarlyWarning.objects.get(pk=r.json()["warning"]["id"]).exercise is True

    assert api_client(em["water_staff"]).post(url, _warning_body(incident), format="json").status_code in (403, 404)
    bad = api_client(em["west_dispatcher"]).post(url, _warning_body(incident, level="purple", headline=""),
                                                 format="json")
    assert bad.status_code == 400 and {"level", "headline"} <= set(bad.json())
    assert EarlyWarning.objects.count() == 2


def test_situation_reports_html_and_pdf(em):
    incident, _ = _open_from_case(em)
    command.change_level(em["west_dispatcher"], incident, 3, "扩大")
    command.activate_plan(em["dispatcher"], incident)
    api = api_client(em["dispatcher"])
    url = f"/api/emergency/incidents/{incident.number}/report/"
    first = api.get(url + "?kind=first&as=html").content.decode()
    assert "雨湖区城正街积水" in first and "plan_activated" not in first
    for t in IncidentTask.objects.filter(incident=incident):
        command.task_step(em["dispatcher"], t, "done", note="完成")
    command.set_status(em["dispatcher"], incident, "ended", "积水排除")
    final = api.get(url + "?as=html").content.decode()
    assert 'data-kind="final"' in final and "积水排除" in final and "湘潭市防汛应急预案" in final
    pdf = api.get(url + "?kind=final&as=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and len(pdf.content) > 5000
    assert api.get(url + "?kind=nonsense").status_code == 400


def test_a_drill_takes_no_real_case_is_marked_and_its_report_compares_times(em):
    lon, lat = point_in(em["a"])
    case = flood_case(em)
    with pytest.raises(command.InvalidAction):
        command.open_incident(em["west_dispatcher"], title="演练", event_type=em["flood"], level=3, case=case,
                              drill=True)
    drill = command.open_incident(em["west_dispatcher"], title="防汛演练", event_type=em["flood"], level=3,
                                  area=square(lon, lat), drill=True)
    assert list(command.offered_cases(em["west_dispatcher"], drill)) == []
    with pytest.raises(command.InvalidAction):
        command.add_case(em["dispatcher"], drill, case)
    command.activate_plan(em["dispatcher"], drill)
    for t in IncidentTask.objects.filter(incident=drill):
        command.task_step(em["dispatcher"], t, "done", note="演练完成")
    html = api_client(em["dispatcher"]).get(f"/api/emergency/incidents/{drill.number}/report/?as=html").content.decode()
    assert "drill-mark" in html and 'id="drill-table"' in html
    listed = api_client(em["dispatcher"]).get("/api/emergency/incidents/?drill=1").json()["results"]
    assert [i["number"] for i in listed] == [drill.number] and listed[0]["drill"] is True


def test_plans_are_versioned_and_the_latest_in_force_is_activated(em):
    v2 = Plan.objects.create(code="flood", version=2, name="湘潭市防汛应急预案（2026修订）", event_type=em["flood"],
                             most_severe=1, least_severe=3, headquarters=em["hq"])
    PlanTask.objects.create(plan=v2, kind="evacuation", title="人员疏散", bureau=em["cg"], limit_minutes=20)
    incident, _ = _open_from_case(em)
    command.change_level(em["west_dispatcher"], incident, 3, "扩大")
    tasks = command.activate_plan(em["dispatcher"], incident)
    assert [t.title for t in tasks] == ["人员疏散"]
    assert incident.log.get(action="plan_activated").data["version"] == 2
    plans = api_client(em["dispatcher"]).get("/api/emergency/plans/").json()["plans"]
    assert [(p["code"], p["version"]) for p in plans] == [("flood", 2)]


def test_bad_input_is_400_never_500(em):
    api = api_client(em["dispatcher"])
    for body in ({}, {"title": "x", "event_type": "nope", "level": 3}, {"title": "x", "event_type": "flood",
                                                                       "level": 3, "area": "not geojson"},
                 {"title": "x", "event_type": "flood", "level": 3, "area": {"type": "Point", "coordinates": [1, 2]}},
                 {"title": "x", "event_type": "flood", "level": 3, "case": "NOPE"},
                 {"title": "x", "event_type": "flood", "level": 3, "area": square(150, 60)}):
        r = api.post("/api/emergency/incidents/", body, format="json")
        assert r.status_code == 400, (body, r.content)
    assert api.get("/api/emergency/incidents/?status=weird").status_code == 400
    assert api.get("/api/emergency/resources/?limit=0").status_code == 400
