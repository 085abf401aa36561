"""The leaders' dashboard figures: the daily tallies kept by triggers agree with the cases, and the
heatmap, choropleth and KPI endpoints count what the user's scope allows."""

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Polygon
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, models
from django.urls import reverse
from django.utils import timezone

from dispatch.dashboard import compact_tallies
from dispatch.history import generate_history
from dispatch.models import DailyTally
from incidents import intake, lifecycle
from incidents.photos import prepare_photo
from tests.conftest import api_client, jpeg, point_in


def _report(people, category="SJ0601"):
    lon, lat = point_in(people["a"])
    return intake.submit(intake.Report(lon=lon, lat=lat, category=category, source="hotline_12345")).case


def _period():
    today = timezone.localdate()
    return {"start": (today - timedelta(days=30)).isoformat(), "end": (today + timedelta(days=1)).isoformat()}


def _tally(**key) -> tuple[int, int, int, int]:
    from django.db.models import Sum

    t = DailyTally.objects.filter(**key).aggregate(r=Sum("reported"), p=Sum("processed"), o=Sum("on_time"),
                                                   c=Sum("closed"))
    return t["r"] or 0, t["p"] or 0, t["o"] or 0, t["c"] or 0


def test_tallies_follow_reports_and_closures(people):
    case = _report(people)
    key = {"day": timezone.localdate(), "community": case.community, "district": case.district_id,
           "major__code": "SJ06"}
    assert _tally(**key) == (1, 0, 0, 0)
    case = lifecycle.register(case, people["operator"])
    case = lifecycle.dispatch(case, people["dispatcher"], bureau=people["cg"])
    case = lifecycle.accept(case, people["cg_staff"])
    after = prepare_photo(SimpleUploadedFile("after.jpg", jpeg(), "image/jpeg"), keep_metadata=True)
    case = lifecycle.process(case, people["cg_staff"], note="done", photos=[after])
    case = lifecycle.verify(case, people["inspector"], passed=True)
    lifecycle.close(case, people["operator"])
    assert _tally(**key) == (1, 1, 1, 1)


def test_increments_fold_into_one_row_per_key_with_the_same_totals(people):
    for _ in range(5):
        _report(people)
    before = _tally()
    assert DailyTally.objects.count() == 5  # one increment per report: no report waits on another's row
    assert compact_tallies() == 4
    assert DailyTally.objects.count() == 1 and _tally() == before == (5, 0, 0, 0)


def test_bulk_history_is_tallied_exactly(people):
    generate_history(500, timezone.now() - timedelta(days=10), 5 * 86400, "TT")
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM incidents_case")
        cases = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM incidents_caselog WHERE action = 'close'")
        closes = cur.fetchone()[0]
    from django.db.models import Sum

    totals = DailyTally.objects.aggregate(r=Sum("reported"), c=Sum("closed"))
    assert (totals["r"], totals["c"]) == (cases, closes) == (500, 350)


def test_dashboard_endpoints_count_within_the_scope(people):
    generate_history(300, timezone.now() - timedelta(days=10), 5 * 86400, "TS")
    leader = api_client(people["leader"])
    kpis = leader.get(reverse("dispatch:dashboard-kpis"), _period()).json()
    assert kpis["reported"] == 300 and kpis["closed_total"] == 210 and len(kpis["days"]) == 31
    assert 0 < kpis["processing_reports_on_time_rate"] < 1
    # The due figures as the evaluation counts them: every generated case closed was due in the period.
    assert kpis["due"] >= kpis["closed_due"] == 210 and 0 < kpis["on_time_closure_rate"] < kpis["closure_rate"] < 1
    for zoom in (11, 16):  # community tallies, then the cases themselves
        heat = leader.get(reverse("dispatch:dashboard-heat"), {**_period(), "zoom": zoom}).json()
        assert heat["total"] == 300 and heat["points"]
        shapes = leader.get(reverse("dispatch:dashboard-choropleth"), {**_period(), "zoom": zoom}).json()
        assert sum(f["properties"]["count"] for f in shapes["features"]) == 300
        assert shapes["level"] == ("cell" if zoom >= 14 else "community")
    some = shapes["features"][0]["properties"]["code"]
    figures = leader.get(reverse("dispatch:dashboard-area", args=[some]), _period()).json()
    assert figures["total"] == shapes["features"][0]["properties"]["count"]
    east = api_client(people["east_dispatcher"])  # another district's centre sees none of these
    assert east.get(reverse("dispatch:dashboard-kpis"), _period()).json()["reported"] == 0
    assert east.get(reverse("dispatch:dashboard-heat"), {**_period(), "zoom": 16}).json()["total"] == 0


def test_the_cells_in_view_show_their_whole_count(people):
    """At cell zoom the choropleth shows the cells the map's box touches, each with all its cases of the period,
    also a cell only a corner of which is in view; cells out of view and other districts' cases are not counted."""
    from grids.models import Cell
    from incidents.models import Case

    generate_history(300, timezone.now() - timedelta(days=10), 5 * 86400, "TC")
    busiest = Case.objects.values("cell").order_by().annotate(n=models.Count("id")).order_by("-n").first()
    cell = Cell.objects.get(pk=busiest["cell"])
    x0, y0, x1, y1 = cell.geom.extent
    corner = (x0, y0, x0 + (x1 - x0) / 10, y0 + (y1 - y0) / 10)  # a tenth of the cell's box, at one corner
    leader = api_client(people["leader"])
    url = reverse("dispatch:dashboard-choropleth")
    shapes = leader.get(url, {**_period(), "zoom": 16, "bbox": ",".join(map(str, corner))}).json()
    counts = {f["properties"]["code"]: f["properties"]["count"] for f in shapes["features"]}
    assert counts[cell.code] == busiest["n"] >= 2
    touched = set(Cell.objects.filter(geom__bboverlaps=Polygon.from_bbox(corner)).values_list("code", flat=True))
    assert counts.keys() <= touched
    everything = leader.get(url, {**_period(), "zoom": 16}).json()["features"]
    assert len(counts) < len(everything) and sum(f["properties"]["count"] for f in everything) == 300
    east = api_client(people["east_dispatcher"])
    assert east.get(url, {**_period(), "zoom": 16, "bbox": ",".join(map(str, corner))}).json()["features"] == []


@pytest.mark.parametrize("params", [{}, {"start": "2026-11-10", "end": "2026-11-01"},
                                    {"start": "2026-01-01", "end": "2027-06-01"},
                                    {"start": "2026-11-01", "end": "2026-11-10", "bbox": "1,2,3"},
                                    {"start": "2026-11-01", "end": "2026-11-10", "zoom": 40}])
def test_bad_parameters_are_400_with_field_messages(people, params):
    response = api_client(people["leader"]).get(reverse("dispatch:dashboard-heat"), params)
    assert response.status_code == 400 and response.json()


def test_the_due_tally_says_what_the_due_pass_over_the_cases_says_whatever_happens_to_a_case(people, monkeypatch):
    """The KPIs' due figures come from the due tally, kept by triggers on every change of a case; they must equal
    the evaluation's pass over the cases for any period, judged at its end, through postponements, late
    processing, closures, reopenings, cancellations, merges, a case moved to another district — and after the
    increments are folded."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from dispatch import evaluation
    from dispatch.dashboard import due_counts
    from dispatch.models import DueTally

    tz = ZoneInfo("Asia/Shanghai")
    clock = {"at": datetime(2026, 10, 1, 9, tzinfo=tz)}
    monkeypatch.setattr(timezone, "now", lambda: clock["at"])
    photo = prepare_photo(SimpleUploadedFile("after.jpg", jpeg(), "image/jpeg"), keep_metadata=True)

    def at(day: int, hour: int = 9) -> datetime:
        clock["at"] = datetime(2026, 10, 1, hour, tzinfo=tz) + timedelta(days=day - 1)
        return clock["at"]

    def started(day: int, deadline_day: int | None):
        at(day)
        case = lifecycle.register(_report(people), people["operator"])
        deadline = None if deadline_day is None else datetime(2026, 10, 1, 18, tzinfo=tz) + timedelta(
            days=deadline_day - 1)
        case = lifecycle.dispatch(case, people["dispatcher"], bureau=people["cg"], deadline=deadline)
        if deadline_day is None:
            from incidents.models import Case

            Case.objects.filter(pk=case.pk).update(deadline=None)
            case.refresh_from_db()
        return lifecycle.accept(case, people["cg_staff"])

    def processed(case, day: int):
        at(day, 10)
        return lifecycle.process(case, people["cg_staff"], note="done", photos=[photo])

    def closed(case, day: int):
        at(day, 11)
        case = lifecycle.verify(case, people["inspector"], passed=True)
        return lifecycle.close(case, people["operator"])

    closed(processed(started(1, 3), 2), 2)  # on time, closed early: due on the 2nd
    closed(processed(started(2, 4), 6), 7)  # late: due on the 4th, processed and closed after
    started(3, 5)  # never processed
    postponed = started(4, 6)
    at(5)
    postponed = lifecycle.request_postponement(postponed, people["cg_staff"], reason="材料未到",
                                               until=datetime(2026, 10, 20, 18, tzinfo=tz))
    postponed = lifecycle.approve_postponement(postponed, people["dispatcher"])
    processed(postponed, 18)
    reopened = closed(processed(started(6, 9), 7), 8)
    at(10)
    reopened = lifecycle.reopen(reopened, people["operator"], reason="群众不满意")  # deadline again from dispatch
    cancelled = started(7, 12)
    at(8)
    lifecycle.cancel(cancelled, people["dispatcher"], reason="重复")
    at(9)
    lifecycle.merge(lifecycle.register(_report(people), people["operator"]), people["operator"],
                    into=lifecycle.register(_report(people), people["operator"]))
    closed(processed(started(11, None), 12), 13)  # no deadline: 无时限
    moved = started(12, 14)
    from incidents.models import Case

    Case.objects.filter(pk=moved.pk).update(district=people["east"])  # a corrected district
    closed(processed(started(25, 40), 26), 27)  # closed early, deadline in November
    started(28, 35)  # due in November

    def by_pass(start, end, district=None):
        tz_start, tz_end = (datetime.combine(d, datetime.min.time(), tz) for d in (start, end))
        extra = "AND c.district_id = ANY(%(district)s)" if district else ""
        with connection.cursor() as cur:
            cur.execute(evaluation.due_sql("1", extra), {"start": tz_start, "end": tz_end, "district": district})
            row = cur.fetchone()
        return dict(zip(evaluation.DUE_COUNTS, row[1:], strict=True)) if row else dict.fromkeys(
            evaluation.DUE_COUNTS, 0)

    from datetime import date

    periods = [(date(2026, 10, 1), date(2026, 11, 1)), (date(2026, 10, 1), date(2026, 10, 5)),
               (date(2026, 10, 4), date(2026, 10, 19)), (date(2026, 10, 19), date(2026, 12, 1)),
               (date(2026, 9, 1), date(2027, 1, 1))]

    def check():
        for start, end in periods:
            assert due_counts(start, end) == by_pass(start, end), (start, end)
            for district in (people["west"], people["east"]):
                assert due_counts(start, end, [district.pk]) == by_pass(start, end, [district.pk]), (start, end)
            assert due_counts(start, end, major="SJ06") == by_pass(start, end)
            assert due_counts(start, end, major="SJ01") == dict.fromkeys(evaluation.DUE_COUNTS, 0)

    at(30)
    check()
    october = due_counts(date(2026, 10, 1), date(2026, 11, 1))
    assert october["due"] >= 7 and october["no_deadline"] == 1 and october["overdue_unprocessed"] >= 1
    assert october["processed_late"] >= 1 and october["closed_on_time"] >= 2
    assert due_counts(date(2026, 10, 1), date(2026, 11, 1), [people["east"].pk])["due"] == 1
    compact_tallies()
    assert not DueTally.objects.filter(n=0).exists()
    check()
    # The catalogue moves the subclass (SJ0601) to another class: its cases' due figures go with it.
    from incidents.models import Category

    sj06 = due_counts(date(2026, 10, 1), date(2026, 11, 1), major="SJ06")
    Category.objects.filter(code="SJ0601").update(parent=Category.objects.get(code="SJ01"))
    assert due_counts(date(2026, 10, 1), date(2026, 11, 1), major="SJ01")["due"] == sj06["due"] > 0
    assert due_counts(date(2026, 10, 1), date(2026, 11, 1), major="SJ06") == dict.fromkeys(evaluation.DUE_COUNTS, 0)
    assert due_counts(date(2026, 10, 1), date(2026, 11, 1)) == october
