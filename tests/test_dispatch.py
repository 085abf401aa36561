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
    assert decision.explanation.endswith("路灯 in 雨湖区 → 国网湘潭供电公司")
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
    with pytest.raises(ValidationError, match="as specific"):
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
    assert "manual queue" in RoutingDecision.objects.get(case=case).explanation
    assert case.log.filter(action="route").exists()


def test_auto_dispatch_per_class_with_deadline_and_explanation(people, power):
    lamp = Category.objects.get(code="BJ0109")
    rule = RoutingRule.objects.create(category=lamp, bureau=power)
    DispatchPolicy.objects.create(category=lamp.parent, auto_dispatch=True)
    case = lifecycle.register(_case(people), people["operator"])
    case.refresh_from_db()
    assert (case.status, case.bureau) == (Status.DISPATCHED, power)
    entry = case.log.get(action="dispatch")
    assert entry.actor is None and f"rule #{rule.pk}" in entry.note
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
    # A postponement gives a new deadline, which is watched afresh.
    case.deadline = later + timedelta(hours=1)
    case.save(update_fields=["deadline"])
    assert watch_deadlines(later + timedelta(hours=2))["escalated"] == 1
    call_command("run_scheduler", "--once")


def test_closed_cases_are_not_watched(people):
    from datetime import timedelta

    from django.utils import timezone

    from dispatch.watch import watch_deadlines

    case = _case(people)
    case.deadline = timezone.now() - timedelta(hours=5)
    case.save(update_fields=["deadline"])
    assert watch_deadlines() == {"warned": 0, "escalated": 0}  # reported, not yet the bureau's
