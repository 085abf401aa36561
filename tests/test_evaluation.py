"""The evaluation's indicators as the cities' bulletins define them, reproduced through the lifecycle: a month
whose counts are a published bulletin's (972 due, 911 closed, 737 closed on time: 93.72 %, 75.82 %), a case
processed late in the next month that stays late in its own month, cases without a deadline reported apart,
and a rate from elsewhere (the callbacks' satisfaction) joining the composite score as data."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from dispatch.evaluation import evaluate
from dispatch.models import EvaluationWeight
from incidents import intake, lifecycle
from incidents.models import Case, Source
from incidents.photos import prepare_photo
from tests.conftest import api_client, jpeg, point_in

TZ = ZoneInfo("Asia/Shanghai")
OCTOBER = (datetime(2026, 10, 1, tzinfo=TZ), datetime(2026, 11, 1, tzinfo=TZ))


class Clock:
    """Django's clock, set by the test: every step of the lifecycle happens when the test says."""

    def __init__(self, monkeypatch, at: datetime):
        from django.utils import timezone

        self.at = at
        monkeypatch.setattr(timezone, "now", lambda: self.at)

    def set(self, at: datetime) -> None:
        self.at = at


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch, OCTOBER[0])


@pytest.fixture
def photo():
    return prepare_photo(SimpleUploadedFile("after.jpg", jpeg(), "image/jpeg"), keep_metadata=True)


def _case(people, clock, at: datetime, deadline: datetime | None, *, category: str = "SJ0601") -> Case:
    """A report at `at`, registered and dispatched to the city-management bureau with this deadline (none: a
    subclass without a time limit), accepted."""
    clock.set(at)
    lon, lat = point_in(people["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category=category, source=Source.HOTLINE_12345)).case
    case = lifecycle.register(case, people["operator"])
    case = lifecycle.dispatch(case, people["dispatcher"], bureau=people["cg"], deadline=deadline)
    if deadline is None:
        Case.objects.filter(pk=case.pk).update(deadline=None)
        case.refresh_from_db()
    return lifecycle.accept(case, people["cg_staff"])


def _process(people, clock, case: Case, at: datetime, photo) -> Case:
    clock.set(at)
    return lifecycle.process(case, people["cg_staff"], note="已处理", photos=[photo])


def _close(people, clock, case: Case, at: datetime) -> Case:
    clock.set(at)
    case = lifecycle.verify(case, people["inspector"], passed=True)
    return lifecycle.close(case, people["operator"])


def test_a_month_reproduces_a_published_bulletin(people, clock, photo):
    """972 cases due in October, 911 of them closed, 737 closed on time — plus the cases the rules leave out."""
    oct_, h = OCTOBER[0], timedelta(hours=1)
    for i in range(972):
        at = oct_ + timedelta(days=i % 25, minutes=i)
        if i < 700:  # processed on time, closed in October
            case = _case(people, clock, at, at + 48 * h)
            case = _process(people, clock, case, at + 24 * h, photo)
            _close(people, clock, case, at + 30 * h)
        elif i < 737:  # closed on time early in October, deadline in November: due in October, when closed
            case = _case(people, clock, oct_ + timedelta(days=28, minutes=i), OCTOBER[1] + 10 * 24 * h)
            case = _process(people, clock, case, oct_ + timedelta(days=29), photo)
            _close(people, clock, case, oct_ + timedelta(days=29, hours=2))
        elif i < 911:  # processed late, closed late, still in October
            case = _case(people, clock, at, at + 24 * h)
            case = _process(people, clock, case, at + 72 * h, photo)
            _close(people, clock, case, at + 80 * h)
        elif i < 950:  # due in October, never processed
            _case(people, clock, at, at + 48 * h)
        else:  # processed on time in October but not yet verified by the end of the month
            case = _case(people, clock, oct_ + timedelta(days=29, minutes=i), oct_ + timedelta(days=30, hours=12))
            _process(people, clock, case, oct_ + timedelta(days=30), photo)
    # Not due in October: due in September (closed late in October), due in November, cancelled, no deadline.
    september = _case(people, clock, oct_ - 5 * 24 * h, oct_ - 2 * 24 * h)
    _close(people, clock, _process(people, clock, september, oct_ + 2 * h, photo), oct_ + 3 * h)
    _case(people, clock, oct_ + 29 * 24 * h, OCTOBER[1] + 5 * 24 * h)
    lifecycle.cancel(_case(people, clock, oct_ + 24 * h, oct_ + 48 * h), people["dispatcher"], reason="重复上报")
    no_limit = _case(people, clock, oct_ + 24 * h, None)
    _close(people, clock, _process(people, clock, no_limit, oct_ + 30 * h, photo), oct_ + 32 * h)
    clock.set(OCTOBER[1] + timedelta(days=3))

    [west] = evaluate("district", *OCTOBER)
    assert (west.due, west.closed, west.closed_on_time) == (972, 911, 737)
    assert f"{west.rates['closure_rate'] * 100:.2f}" == "93.72"
    assert f"{west.rates['on_time_closure_rate'] * 100:.2f}" == "75.82"
    # 737 + 22 processed on time (closed or not); 174 processed late; 39 never processed; 1 apart.
    assert (west.processed_on_time, west.processed_late, west.overdue_unprocessed) == (759, 174, 39)
    assert f"{west.rates['on_time_processing_rate'] * 100:.2f}" == "78.09"
    assert west.no_deadline == 1
    # The flows are there too, under their own names: closures in October include September's late case.
    assert west.closures == 913 and west.processing_reports == 935
    [bureau] = evaluate("bureau", *OCTOBER)
    assert (bureau.code, bureau.due, bureau.closed, bureau.closed_on_time) == ("430302-CG", 972, 911, 737)

    # The API, the dashboard's KPIs and the bulletin say the same.
    leader = api_client(people["leader"])
    period = {"start": "2026-10-01", "end": "2026-11-01"}
    body = leader.get(reverse("dispatch:evaluation"), {"dimension": "district", **period}).json()
    assert body["results"][0]["rates"]["on_time_closure_rate"] == 0.7582
    kpis = leader.get(reverse("dispatch:dashboard-kpis"), period).json()
    assert (kpis["due"], kpis["closed_due"], kpis["closure_rate"], kpis["on_time_closure_rate"]) == (
        972, 911, 0.9372, 0.7582)
    from dispatch.bulletin import figures

    data = figures(OCTOBER[0].date(), OCTOBER[1].date(), None)
    assert data["totals"]["current"]["counts"]["due"] == 972
    assert data["totals"]["current"]["rates"]["on_time_closure_rate"] == 0.7582
    assert any("93.72%" in line and "75.82%" in line for line in data["summary"])


def test_a_case_processed_late_in_the_next_month_is_late_in_its_own(people, clock, photo):
    oct_ = OCTOBER[0]
    on_time = _case(people, clock, oct_ + timedelta(days=3), oct_ + timedelta(days=10))
    _close(people, clock, _process(people, clock, on_time, oct_ + timedelta(days=5), photo), oct_ + timedelta(days=6))
    late = _case(people, clock, oct_ + timedelta(days=20), oct_ + timedelta(days=28))
    clock.set(OCTOBER[1] + timedelta(days=1))
    [west] = evaluate("district", *OCTOBER)  # at the end of October: one late and not processed
    assert (west.due, west.closed_on_time, west.overdue_unprocessed) == (2, 1, 1)
    late = _process(people, clock, late, OCTOBER[1] + timedelta(days=4), photo)
    _close(people, clock, late, OCTOBER[1] + timedelta(days=5))
    clock.set(OCTOBER[1] + timedelta(days=20))
    [west] = evaluate("district", *OCTOBER)  # processed and closed since, in November: October's figures stand
    assert (west.due, west.closed, west.closed_on_time, west.overdue_unprocessed) == (2, 1, 1, 1)
    assert west.rates["on_time_closure_rate"] == 0.5
    assert evaluate("district", OCTOBER[1], OCTOBER[1] + timedelta(days=30))[0].due == 0  # nor due in November
    entry = late.log.get(action="process")
    assert entry.deadline_met is False


def test_a_processing_report_without_a_deadline_is_neither_on_time_nor_late(people, clock, photo):
    case = _case(people, clock, OCTOBER[0] + timedelta(days=2), None)
    case = _process(people, clock, case, OCTOBER[0] + timedelta(days=3), photo)
    assert case.log.get(action="process").deadline_met is None
    [west] = evaluate("district", *OCTOBER)
    assert (west.processing_reports, west.processing_reports_on_time, west.due) == (1, 0, 0)
    assert west.rates["on_time_closure_rate"] is None


def test_the_callbacks_satisfaction_joins_the_score_as_data(people, clock, photo):
    """满意率 from the hotline desk's callbacks (incidents.satisfaction) is one of the bureau's rates, and joins the
    composite score with its weight (EvaluationWeight `satisfaction_rate`, 1 unless set): no callback, no rate,
    and the score leaves it out."""
    from incidents.callbacks import record_callback
    from incidents.models import Satisfaction

    first = _case(people, clock, OCTOBER[0] + timedelta(days=2), OCTOBER[0] + timedelta(days=4))
    second = _case(people, clock, OCTOBER[0] + timedelta(days=2), OCTOBER[0] + timedelta(days=4))
    for case in (first, second):
        _close(people, clock, _process(people, clock, case, OCTOBER[0] + timedelta(days=3), photo),
               OCTOBER[0] + timedelta(days=3, hours=2))
    # The callbacks are stamped by the database's clock (Callback.created_at's default), not the test's: the
    # period runs from October to now.
    period = (OCTOBER[0], datetime.now(TZ) + timedelta(days=1))
    [before] = evaluate("bureau", *period)
    assert before.rates.get("satisfaction_rate") is None and before.score == 100.0
    clock.set(OCTOBER[0] + timedelta(days=5))
    record_callback(first, people["operator"], reached=True, satisfaction=Satisfaction.SATISFIED)
    record_callback(second, people["operator"], reached=True, satisfaction=Satisfaction.NOT_SATISFIED)
    [after] = evaluate("bureau", *period)
    assert after.rates["satisfaction_rate"] == 0.5
    # Weights 1, 3, 1, 2 on rates of 1 (rework 0; a bureau registers nothing) and 1 on a satisfaction of 0.5.
    assert after.score == round(100 * 7.5 / 8, 2)
    EvaluationWeight.objects.create(metric="satisfaction_rate", weight=2)
    [weighted] = evaluate("bureau", *period)
    assert weighted.score == round(100 * 8 / 9, 2)
    EvaluationWeight.objects.filter(metric="satisfaction_rate").update(weight=0)
    [left_out] = evaluate("bureau", *period)
    assert left_out.score == 100.0


def test_inspectors_are_judged_on_their_reports_and_verifications(people, clock, photo):
    from dispatch.models import StageLimit

    StageLimit.objects.update_or_create(stage="verify", urgency="", defaults={"hours": 4})
    lon, lat = point_in(people["a"])
    clock.set(datetime(2026, 10, 12, 9, 0, tzinfo=TZ))  # a Monday
    mine = [intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source=Source.INSPECTOR,
                                        photos=[SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg")]),
                          reporter=people["inspector"]).case for _ in range(3)]
    lifecycle.reject(mine[2], people["operator"], reason="不属实")
    quick = _case(people, clock, datetime(2026, 10, 12, 9, 30, tzinfo=TZ), datetime(2026, 10, 14, 9, 0, tzinfo=TZ))
    quick = _process(people, clock, quick, datetime(2026, 10, 12, 10, 0, tzinfo=TZ), photo)
    clock.set(datetime(2026, 10, 12, 11, 0, tzinfo=TZ))  # one working hour later
    lifecycle.verify(quick, people["inspector"], passed=True)
    slow = _case(people, clock, datetime(2026, 10, 12, 9, 40, tzinfo=TZ), datetime(2026, 10, 14, 9, 0, tzinfo=TZ))
    slow = _process(people, clock, slow, datetime(2026, 10, 12, 10, 0, tzinfo=TZ), photo)
    clock.set(datetime(2026, 10, 13, 16, 0, tzinfo=TZ))  # eight working hours later: past the four allowed
    lifecycle.verify(slow, people["inspector"], passed=False, note="未修好")
    for case in mine[:2]:
        lifecycle.register(case, people["operator"])
    inspectors = {f.code: f for f in evaluate("inspector", *OCTOBER)}
    me = inspectors["insp"]
    assert (me.reported, me.registered, me.verified, me.reworked) == (3, 2, 1, 1)
    assert me.rates == {"valid_report_rate": 0.6667, "verification_on_time_rate": 0.5}
    assert me.score == pytest.approx(100 * (0.6667 + 0.5) / 2, abs=0.01)


def test_steps_count_where_the_case_was_when_they_happened(people, clock, photo):
    """A step is credited to the district, street and cell where its case was then (the log entry carries them,
    as it carries the bureau); a case is due where it is now. Here a case reported in the west district is moved
    to the east one (a corrected location) before it is processed."""
    from grids.generation import generate_cells
    from grids.models import Area, Level
    from incidents.models import CaseLog

    oct_ = OCTOBER[0]
    case = _case(people, clock, oct_ + timedelta(days=3), oct_ + timedelta(days=10))
    west, east = people["west"], people["east"]
    assert set(case.log.values_list("district_id", "cell_id").distinct()) == {(west.pk, case.cell_id)}
    street = Area.objects.create(level=Level.STREET, code="430304001", name="东坪街道", parent=east, geom=east.geom)
    community = Area.objects.create(level=Level.COMMUNITY, code="430304001001", name="东坪社区", parent=street,
                                    geom=east.geom)
    generate_cells(community, size=1000)
    there = community.cells.order_by("code").first()
    Case.objects.filter(pk=case.pk).update(cell=there, community=community, street=street, district=east,
                                           location=there.geom.point_on_surface)
    case.refresh_from_db()
    case = _process(people, clock, case, oct_ + timedelta(days=5), photo)
    assert CaseLog.objects.get(case=case, action="process").district_id == east.pk
    by_district = {f.code: f for f in evaluate("district", *OCTOBER)}
    assert (by_district["430302"].reported, by_district["430302"].dispatched,
            by_district["430302"].processing_reports) == (1, 1, 0)
    assert (by_district["430304"].reported, by_district["430304"].processing_reports,
            by_district["430304"].due) == (0, 1, 1)
    assert "430302" not in {f.code for f in evaluate("district", *OCTOBER) if f.due}
    by_cell = {f.code: f for f in evaluate("cell", *OCTOBER)}
    assert by_cell[there.code].processing_reports == 1 and by_cell[there.code].reported == 0
    mine = evaluate("district", *OCTOBER, district_id=west.pk)
    assert [(f.code, f.reported, f.processing_reports, f.due) for f in mine] == [("430302", 1, 0, 0)]


def test_a_bureau_with_too_few_cases_due_is_listed_after_the_ranked_ones_without_a_rank(people, clock, photo,
                                                                                           settings):
    """One case closed on time is 100 points: a street office with it must not rank above a bureau with many
    cases and a few late (EVALUATION_RANK_MIN_DUE); it follows the ranked ones, in the API and the bulletin."""
    from dispatch import bulletin

    settings.EVALUATION_RANK_MIN_DUE = 4
    oct_ = OCTOBER[0]
    for k in range(4):  # the city-management bureau: four due, one of them processed late
        case = _case(people, clock, oct_ + timedelta(days=2 + k), oct_ + timedelta(days=5 + k))
        late = k == 0
        _close(people, clock, _process(people, clock, case, oct_ + timedelta(days=(8 if late else 3) + k), photo),
               oct_ + timedelta(days=9 + k))
    clock.set(oct_ + timedelta(days=20))  # the water bureau: one case, processed and closed on time
    lon, lat = point_in(people["a"])
    small = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source=Source.HOTLINE_12345)).case
    small = lifecycle.register(small, people["operator"])
    small = lifecycle.dispatch(small, people["dispatcher"], bureau=people["water"],
                               deadline=oct_ + timedelta(days=25))
    small = lifecycle.accept(small, people["water_staff"])
    clock.set(oct_ + timedelta(days=21))
    small = lifecycle.process(small, people["water_staff"], note="已处理", photos=[photo])
    _close(people, clock, small, oct_ + timedelta(days=22))
    clock.set(OCTOBER[1] + timedelta(days=1))

    cg, water = evaluate("bureau", *OCTOBER)
    assert (cg.code, cg.due, cg.ranked) == ("430302-CG", 4, True) and cg.score < 100
    assert (water.code, water.due, water.ranked, water.score) == ("430300-SW", 1, False, 100)
    answer = api_client(people["leader"]).get(reverse("dispatch:evaluation"), {
        "dimension": "bureau", "start": "2026-10-01", "end": "2026-11-01"}).json()
    assert [(r["code"], r["ranked"]) for r in answer["results"]] == [("430302-CG", True), ("430300-SW", False)]
    data = bulletin.figures(OCTOBER[0].date(), OCTOBER[1].date(), None)
    assert [(b["name"], b["rank"]) for b in data["bureaus"]] == [("雨湖区城管局", 1), ("湘潭市水务局", None)]
    html = bulletin.render_html(data)
    assert "不少于 4 件" in html or "at least 4 cases due" in html
