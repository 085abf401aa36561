from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from dispatch.calendar import WorkingCalendar
from dispatch.models import CalendarDay, DispatchPolicy, RoutingDecision, RoutingRule, WorkPeriod
from dispatch.routing import route
from grids.models import Bureau
from incidents import intake, lifecycle
from incidents.models import Category, Source, Status
from tests.conftest import jpeg, point_in

TZ = ZoneInfo("Asia/Shanghai")


def at(y, mo, d, h=0, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


@pytest.fixture
def calendar(db):
    CalendarDay.objects.all().delete()
    WorkPeriod.objects.all().delete()
    WorkPeriod.objects.create(start=time(8, 30), end=time(12, 0))
    WorkPeriod.objects.create(start=time(14, 30), end=time(17, 30))
    for d, kind, name in (("2026-10-01", "holiday", "国庆节"), ("2026-10-02", "holiday", "国庆节"),
                          ("2026-10-05", "holiday", "国庆节"), ("2026-10-06", "holiday", "国庆节"),
                          ("2026-10-07", "holiday", "国庆节"), ("2026-10-10", "workday", "国庆节调休上班")):
        CalendarDay.objects.create(date=d, kind=kind, name=name)
    return WorkingCalendar.load()


@pytest.mark.parametrize(("start", "hours", "days", "expected"), [
    (at(2026, 11, 25, 9, 0), 2, 0, at(2026, 11, 25, 11, 0)),      # inside the morning
    (at(2026, 11, 25, 11, 0), 2, 0, at(2026, 11, 25, 15, 30)),    # across lunch
    (at(2026, 11, 25, 17, 0), 2, 0, at(2026, 11, 26, 10, 0)),     # across the night
    (at(2026, 11, 25, 22, 0), 1, 0, at(2026, 11, 26, 9, 30)),     # reported at night
    (at(2026, 11, 27, 16, 30), 2, 0, at(2026, 11, 30, 9, 30)),    # Friday → Monday
    (at(2026, 11, 28, 10, 0), 4, 0, at(2026, 11, 30, 15, 0)),     # reported on a Saturday
    (at(2026, 9, 30, 16, 30), 2, 0, at(2026, 10, 8, 9, 30)),      # into the National Day holiday
    (at(2026, 10, 9, 17, 0), 1, 0, at(2026, 10, 10, 9, 0)),       # a make-up Saturday works
    (at(2026, 11, 25, 9, 0), 0, 1, at(2026, 11, 26, 9, 0)),       # one working day
    (at(2026, 11, 26, 10, 0), 0, 3, at(2026, 12, 1, 10, 0)),      # three working days over a weekend
])
def test_deadline_arithmetic(calendar, start, hours, days, expected):
    assert calendar.add(start, hours=hours, days=days) == expected


def test_calendar_knows_holidays_and_make_up_days(calendar):
    assert not calendar.is_working_day(at(2026, 10, 1).date())
    assert calendar.is_working_day(at(2026, 10, 10).date())  # Saturday, 调休
    assert not calendar.is_working_day(at(2026, 10, 11).date())
    assert calendar.hours_per_day == 6.5


def test_shipped_calendar_has_the_year(db):
    assert CalendarDay.objects.filter(date__year=2026, kind="holiday").count() >= 28


def _case(people, **kw):
    lon, lat = point_in(people["a"])
    fields = {"lon": lon, "lat": lat, "category": "BJ0109", "source": Source.INSPECTOR,
              "photos": [SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg")]} | kw
    return intake.submit(intake.Report(**fields), reporter=people["inspector"]).case


@pytest.fixture
def power(people):
    return Bureau.objects.create(code="430300-GD", name="国网湘潭供电公司", kind=Bureau.Kind.POWER)


def test_most_specific_rule_wins(people, power):
    lamp = Category.objects.get(code="BJ0109")
    RoutingRule.objects.create(category=lamp.parent, bureau=people["water"])
    RoutingRule.objects.create(category=lamp, bureau=people["cg"])
    RoutingRule.objects.create(category=lamp, area=people["west"], bureau=power)
    case = _case(people)
    decision = route(case)
    assert decision.bureau_id == power.pk
    assert decision.explanation.endswith("：路灯，雨湖区 → 国网湘潭供电公司")
    assert "rule" not in decision.explanation  # the log reads in Chinese, as everything else in it
    RoutingRule.objects.create(category=lamp.parent, cell=case.cell, bureau=people["water"])
    assert route(case).bureau_id == people["water"].pk  # a cell beats a district, even for a class


def test_urgency_and_time_window(people, power):
    lamp = Category.objects.get(code="BJ0109")
    RoutingRule.objects.create(category=lamp, bureau=people["cg"])
    RoutingRule.objects.create(category=lamp, urgency="urgent", bureau=power)
    RoutingRule.objects.create(category=lamp, active_from=time(18, 0), active_until=time(8, 0), bureau=people["water"])
    case = _case(people)
    assert route(case, at(2026, 11, 25, 10)).bureau_id == people["cg"].pk
    assert route(case, at(2026, 11, 25, 23)).bureau_id == people["water"].pk  # the night crew
    case.urgency = "urgent"
    assert route(case, at(2026, 11, 25, 10)).bureau_id == power.pk


def test_ties_are_refused_at_save(people, power):
    lamp = Category.objects.get(code="BJ0109")
    RoutingRule.objects.create(category=lamp, area=people["west"], bureau=people["cg"])
    with pytest.raises(ValidationError, match="同样具体"):
        RoutingRule.objects.create(category=lamp, area=people["west"], bureau=power)
    RoutingRule.objects.create(category=lamp, area=people["west"], bureau=power, priority=1)
    RoutingRule.objects.create(category=lamp, area=people["west"], bureau=power, active_from=time(18, 0),
                               active_until=time(6, 0))
    with pytest.raises(ValidationError):
        RoutingRule.objects.create(category=lamp, area=people["west"], bureau=power, active_from=time(5, 0),
                                   active_until=time(7, 0))


def test_no_rule_means_the_manual_queue(people):
    case = lifecycle.register(_case(people), people["operator"])
    assert case.status == Status.REGISTERED and case.bureau is None
    assert "人工派遣" in RoutingDecision.objects.get(case=case).explanation
    assert case.log.filter(action="route").exists()


def test_auto_dispatch_per_class_with_deadline_and_explanation(people, power):
    lamp = Category.objects.get(code="BJ0109")
    rule = RoutingRule.objects.create(category=lamp, bureau=power)
    DispatchPolicy.objects.create(category=lamp.parent, auto_dispatch=True)
    case = lifecycle.register(_case(people), people["operator"])
    case.refresh_from_db()
    assert (case.status, case.bureau) == (Status.DISPATCHED, power)
    entry = case.log.get(action="dispatch")
    assert entry.actor is None and f"路由规则 {rule.pk}：" in entry.note
    expected = WorkingCalendar.load().add(entry.created_at, days=2)  # 路灯 一般: 2 working days
    assert case.deadline == expected


def test_manual_dispatch_against_the_rule_needs_a_reason(people, power):
    lamp = Category.objects.get(code="BJ0109")
    RoutingRule.objects.create(category=lamp, bureau=power)
    case = lifecycle.register(_case(people), people["operator"])
    assert case.status == Status.REGISTERED  # no auto-dispatch for this class
    with pytest.raises(lifecycle.InvalidAction):
        lifecycle.dispatch(case, people["dispatcher"], bureau=people["cg"])
    case.refresh_from_db()
    assert case.status == Status.REGISTERED
    case = lifecycle.dispatch(case, people["dispatcher"], bureau=people["cg"], note="供电公司在抢修，由城管先行处置")
    assert case.bureau == people["cg"] and case.deadline is not None



def test_overdue_watch_warns_then_escalates_once(people, settings):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from dispatch.models import Escalation
    from dispatch.watch import watch_deadlines

    settings.NEAR_DUE_HOURS = 2
    case = lifecycle.dispatch(lifecycle.register(_case(people), people["operator"]), people["dispatcher"],
                              bureau=people["cg"])
    now = timezone.now()
    case.deadline = now + timedelta(hours=1)
    case.save(update_fields=["deadline"])
    assert case.sla_light(now) == "yellow"
    assert watch_deadlines(now) == {"warned": 1, "escalated": 0}
    assert watch_deadlines(now) == {"warned": 0, "escalated": 0}
    later = now + timedelta(hours=3)
    assert case.sla_light(later) == "red"
    assert watch_deadlines(later) == {"warned": 0, "escalated": 1}
    assert watch_deadlines(later) == {"warned": 0, "escalated": 0}  # a second (or restarted) run adds nothing
    escalation = Escalation.objects.get(case=case, level="overdue")
    notified = set(escalation.notified.values_list("username", flat=True))
    assert {"cg1", "disp_city"} <= notified and "sw1" not in notified and "disp_east" not in notified
    assert list(case.log.filter(action__in=["warn", "escalate"]).values_list("action", flat=True)) == [
        "warn", "escalate"]
    people["cg"].supervisor = people["leader"]
    people["cg"].save()
    case.refresh_from_db()
    from dispatch.watch import _recipients

    assert {u.username for u in _recipients(case)} >= {"lead"} and "cg1" not in {u.username for u in
                                                                                 _recipients(case)}
    # A postponement gives a new deadline, which is watched afresh.
    case.deadline = later + timedelta(hours=1)
    case.save(update_fields=["deadline"])
    assert watch_deadlines(later + timedelta(hours=2))["escalated"] == 1
    call_command("run_scheduler", "--once")


def test_each_stage_is_watched_on_its_own_limit(people):
    from datetime import timedelta

    from django.utils import timezone

    from dispatch.calendar import WorkingCalendar
    from dispatch.models import Escalation
    from dispatch.stages import StageLimits
    from dispatch.watch import watch_deadlines

    case = _case(people)
    case.deadline = timezone.now() - timedelta(hours=5)  # the processing limit does not apply before dispatch
    case.save(update_fields=["deadline"])
    stage, deadline = StageLimits().deadline(case)
    assert stage == "register"
    assert deadline == WorkingCalendar.load().add(case.created_at, hours=2)
    assert watch_deadlines(deadline - timedelta(hours=1)) == {"warned": 1, "escalated": 0}
    assert watch_deadlines(deadline + timedelta(minutes=1)) == {"warned": 0, "escalated": 1}
    assert watch_deadlines(deadline + timedelta(minutes=2)) == {"warned": 0, "escalated": 0}
    assert "立案" in case.log.get(action="escalate").note
    case = lifecycle.register(case, people["operator"])  # a new stage, a new deadline
    stage, deadline2 = StageLimits().deadline(case)
    assert stage == "dispatch" and deadline2 > timezone.now()
    assert watch_deadlines(deadline2 + timedelta(minutes=1))["escalated"] == 1
    assert Escalation.objects.filter(case=case, level="overdue").count() == 2


@pytest.fixture
def units(people, power):
    from datetime import timedelta

    from django.contrib.gis.geos import Point
    from django.utils import timezone

    from dispatch.models import ResponseUnit

    now = timezone.now()
    lon, lat = point_in(people["a"])
    made = {}
    for code, dx, age, state in (("U1", 0.010, 10, "available"), ("U2", 0.002, 10, "available"),
                                 ("U3", 0.001, 3600, "available"), ("U4", 0.0005, 10, "busy"),
                                 ("U5", 0.030, 10, "available")):
        made[code] = ResponseUnit.objects.create(code=code, name=f"抢修车{code}", bureau=power, state=state,
                                                 position=Point(lon + dx, lat, srid=4326),
                                                 position_at=now - timedelta(seconds=age))
    return made


def test_nearest_available_units_exclude_stale_and_busy(people, units):
    from dispatch.emergency import nearest_units

    case = _case(people, category="SJ0403", photos=[], urgency="emergency")
    found = nearest_units(case.location, limit=3)
    assert [u.code for u, _ in found] == ["U2", "U1", "U5"]  # U3's position is an hour old, U4 is busy
    assert 150 < found[0][1] < 250  # metres: 0.002° of longitude at 27.9°N


def test_sending_units_and_their_steps_are_logged(people, units):
    from dispatch.emergency import is_emergency, record_step, send_units

    case = _case(people, category="SJ0403", photos=[], urgency="emergency")
    assert is_emergency(case)
    [assignment] = send_units(case, [units["U2"]], people["dispatcher"])
    units["U2"].refresh_from_db()
    assert units["U2"].state == "busy"
    with pytest.raises(lifecycle.InvalidAction):
        send_units(case, [units["U2"]], people["dispatcher"])  # already busy
    with pytest.raises(lifecycle.InvalidAction):
        record_step(assignment, "arrive", people["dispatcher"])  # not acknowledged yet
    for step in ("acknowledge", "arrive", "clear"):
        assignment = record_step(assignment, step, people["dispatcher"])
    units["U2"].refresh_from_db()
    assert units["U2"].state == "available" and assignment.cleared_at >= assignment.arrived_at
    assert list(case.log.filter(action__startswith="unit").values_list("action", flat=True)) == [
        "units_sent", "unit_acknowledge", "unit_arrive", "unit_clear"]


def test_positions_never_go_back_in_time(people, units):
    from datetime import timedelta

    from django.utils import timezone

    from dispatch.emergency import report_position

    unit = units["U1"]
    report_position(unit, 112.9, 27.9, at=timezone.now() - timedelta(hours=1))
    unit.refresh_from_db()
    assert unit.position.x != 112.9


def test_feed_delivers_new_and_changed_cases_and_catches_up(people):
    from django.urls import reverse

    from tests.conftest import api_client

    client = api_client(people["dispatcher"])
    first = client.get(reverse("dispatch:events")).json()["events"]
    case = _case(people, category="SJ0403", photos=[], urgency="emergency")
    events = client.get(reverse("dispatch:events"), {"after": max([e["id"] for e in first], default=0)}).json()
    reported = [e for e in events["events"] if e["case"]["number"] == case.number]
    assert reported[0]["action"] == "report" and reported[0]["case"]["emergency"] is True
    cursor = reported[-1]["id"]
    lifecycle.register(case, people["operator"])
    later = client.get(reverse("dispatch:events"), HTTP_LAST_EVENT_ID=str(cursor)).json()["events"]
    assert {"register", "route"} <= {e["action"] for e in later if e["id"] > cursor}
    east = api_client(people["east_dispatcher"]).get(reverse("dispatch:events")).json()["events"]
    assert all(e["case"]["number"] != case.number for e in east)


def test_event_stream_speaks_sse(people, settings):
    from django.urls import reverse

    from tests.conftest import api_client

    settings.FEED_STREAM_SECONDS = 0.5
    settings.FEED_POLL_SECONDS = 0.1
    case = _case(people, category="SJ0406", photos=[], urgency="emergency")
    response = api_client(people["dispatcher"]).get(reverse("dispatch:stream"))
    assert response["Content-Type"] == "text/event-stream"
    body = b"".join(response.streaming_content).decode()
    assert "event: emergency" in body and case.number in body and "\nid: " in body


def test_units_api(people, units):
    from django.urls import reverse

    from tests.conftest import api_client

    case = _case(people, category="SJ0403", photos=[], urgency="emergency")
    client = api_client(people["dispatcher"])
    near = client.get(reverse("dispatch:nearest-units", args=[case.number])).json()
    assert [u["code"] for u in near["units"]][:2] == ["U2", "U1"] and near["emergency"]
    sent = client.post(reverse("dispatch:send-units", args=[case.number]), {"units": ["U2"]}, format="json")
    assert sent.status_code == 201
    step = client.post(reverse("dispatch:assignment-step", args=[sent.json()["assignments"][0]["id"], "acknowledge"]))
    assert step.status_code == 200 and step.json()["acknowledged_at"]
    moved = api_client(people["cg_staff"]).post(reverse("dispatch:unit-position", args=["U1"]),
                                                 {"lon": 112.9, "lat": 27.9}, format="json")
    assert moved.status_code == 404  # another bureau's unit: not in this user's scope


def test_evaluation_against_hand_computed_cases(people):
    from datetime import timedelta

    from django.urls import reverse
    from django.utils import timezone

    from dispatch.evaluation import evaluate
    from incidents.models import Case
    from tests.conftest import api_client

    start = timezone.now() - timedelta(hours=1)
    ops, disp, cg, water = people["operator"], people["dispatcher"], people["cg_staff"], people["water_staff"]
    # A: processed on time, reworked once, then verified and closed.
    a = lifecycle.register(_case(people), ops)
    a = lifecycle.dispatch(a, disp, bureau=people["cg"])
    a = lifecycle.accept(a, cg)
    a = lifecycle.process(a, cg, note="修好", photos=[_photo()])
    a = lifecycle.verify(a, people["inspector"], passed=False, note="灯不亮")
    a = lifecycle.process(a, cg, note="换灯泡", photos=[_photo()])
    a = lifecycle.verify(a, people["inspector"], passed=True)
    lifecycle.close(a, ops)
    # B: not registered.
    lifecycle.reject(_case(people), ops, reason="重复")
    mid = timezone.now()
    # C: returned by the water bureau, re-dispatched to the city-management bureau, processed late.
    c = lifecycle.dispatch(lifecycle.register(_case(people), ops), disp, bureau=people["water"])
    c = lifecycle.return_case(c, water, reason="非水务")
    c = lifecycle.dispatch(c, disp, bureau=people["cg"], note="改派城管")
    c = lifecycle.accept(c, cg)
    Case.objects.filter(pk=c.pk).update(deadline=timezone.now() - timedelta(minutes=1))
    lifecycle.process(c, cg, note="处理", photos=[_photo()])
    end = timezone.now() + timedelta(hours=1)

    [west] = evaluate("district", start, end)
    # Flows: the steps of the period.
    assert (west.code, west.reported, west.registered, west.dispatched, west.returned) == ("430302", 3, 2, 3, 1)
    assert (west.processing_reports, west.processing_reports_on_time, west.verified, west.reworked,
            west.closures) == (3, 2, 1, 1, 1)
    # Due: A (closed, processed on time) and C (its deadline passed, processed late); B was never registered.
    assert (west.due, west.closed, west.closed_on_time, west.processed_on_time, west.processed_late,
            west.overdue_unprocessed) == (2, 1, 1, 1, 1, 0)
    assert west.rates == {"registered_rate": 0.6667, "dispatch_accuracy": 0.6667, "on_time_closure_rate": 0.5,
                          "on_time_processing_rate": 0.5, "rework_rate": 0.5, "closure_rate": 0.5,
                          "postponement_rate": 0.0, "satisfaction_rate": None}  # no callbacks made
    # Weights 1,1,3,1,2: (0.6667 + 0.6667 + 3×0.5 + 0.5 + 2×0.5) / 8 × 100
    assert west.score == pytest.approx(100 * (0.6667 * 2 + 1.5 + 0.5 + 1.0) / 8, abs=0.01)
    assert west.hours["register"] is not None and west.hours["register"] >= 0

    bureaus = {f.code: f for f in evaluate("bureau", start, end)}
    assert (bureaus["430300-SW"].dispatched, bureaus["430300-SW"].returned) == (1, 1)  # credited to water
    assert (bureaus["430302-CG"].dispatched, bureaus["430302-CG"].returned) == (2, 0)
    assert (bureaus["430302-CG"].due, bureaus["430300-SW"].due) == (2, 0)  # C is city management's now
    assert bureaus["430302-CG"].rates["on_time_closure_rate"] == 0.5
    assert bureaus["430302-CG"].score > bureaus["430300-SW"].score

    # Steps are counted in the period they happen in, whatever the case's status is now; a case is due once.
    [before] = evaluate("district", start, mid)
    [after] = evaluate("district", mid, end)
    assert (before.reported, before.registered, before.dispatched, before.returned, before.closures) == (2, 1, 1, 0, 1)
    assert (after.reported, after.registered, after.dispatched, after.returned, after.processing_reports) == (
        1, 1, 2, 1, 1)
    # C's deadline was set a minute back, before `mid`: C is due in the first part, where A closed.
    assert (before.due, before.closed, after.due, after.closed) == (2, 1, 0, 0)
    assert evaluate("district", end, end + timedelta(hours=1)) == []

    leader = api_client(people["leader"])
    days = {"start": str(timezone.localdate(start)), "end": str(timezone.localdate(end) + timedelta(days=1))}
    body = leader.get(reverse("dispatch:evaluation"), {"dimension": "bureau", **days}).json()
    assert [r["code"] for r in body["results"]][0] == "430302-CG"
    series = leader.get(reverse("dispatch:evaluation-series"),
                        {"dimension": "district", "code": "430302", **days}).json()
    assert sum(s.get("reported", 0) for s in series["series"]) == 3
    # another district's centre, or a code that is no unit: no series (and no evaluation per step for it)
    for who, code in ((people["east_dispatcher"], "430302"), (people["leader"], "999999")):
        answer = api_client(who).get(reverse("dispatch:evaluation-series"), {"dimension": "district", "code": code,
                                                                             **days})
        assert answer.status_code == 404 and code in answer.json()["detail"]
    assert leader.get(reverse("dispatch:evaluation"), {"dimension": "planet"}).status_code == 400
    assert api_client(people["inspector"]).get(reverse("dispatch:evaluation"),
                                               {"dimension": "bureau"}).status_code == 403


def test_evaluation_weights_are_data(people):
    from dispatch.evaluation import weights
    from dispatch.models import EvaluationWeight

    EvaluationWeight.objects.create(metric="on_time_closure_rate", weight=5)
    assert weights()["on_time_closure_rate"] == 5 and weights()["closure_rate"] == 2.0


def _photo():
    from incidents.photos import prepare_photo

    return prepare_photo(SimpleUploadedFile("after.jpg", jpeg(), "image/jpeg"), keep_metadata=True)


def test_a_new_console_gets_the_latest_events_not_all_history(people):
    from dispatch.feed import events_after

    for _ in range(5):
        _case(people)
    latest = events_after(people["dispatcher"], 0, limit=3)
    assert len(latest) == 3 and [e["id"] for e in latest] == sorted(e["id"] for e in latest)
    assert latest[-1]["id"] == max(e["id"] for e in events_after(people["dispatcher"], 0))


def test_readyz_reports_database_and_scheduler(client, db):
    from django.core.management import call_command

    body = client.get("/readyz").json()
    assert (body["database"], body["scheduler"]) == ("ok", "stale")
    from dispatch.watch import run_once

    run_once()
    assert client.get("/readyz").json()["scheduler"] == "ok"
    call_command("run_scheduler", "--once")


def test_run_scheduler_once_runs_every_job(people):
    """`run_scheduler --once` runs the watch, the tally folding and the audit retention, as it says."""
    import io
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from citygrid.models import AuditEvent
    from dispatch.models import DailyTally

    for _ in range(3):
        _case(people, category="SJ0601", photos=[])
    increments = DailyTally.objects.count()
    assert increments == 3
    with connection.cursor() as cur:  # an event as the trail would hold it after 200 days
        cur.execute("INSERT INTO citygrid_auditevent (at, username, action, target, result, detail) "
                    "VALUES (%s, 'old', 'login', '', 'ok', '') RETURNING id", [timezone.now() - timedelta(days=200)])
        old = cur.fetchone()[0]
    out = io.StringIO()
    call_command("run_scheduler", "--once", stdout=out)
    printed = out.getvalue()
    assert "deadline watch:" in printed and "tallies: 2 increments folded" in printed
    assert "audit retention: 1 events purged" in printed
    assert DailyTally.objects.count() == 1
    assert not AuditEvent.objects.filter(pk=old).exists()
