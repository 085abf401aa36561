"""The bureau's workbench behind its page: the queue (its bureau's open cases only, deadline first, office hours
left, escalations and who they were addressed to), the feed scoped to the bureau, office hours between two
instants, and the fixes of the browser check that live on the server (landing pages, 403/404, words not codes)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from citygrid import roles
from dispatch.calendar import DEFAULT_PERIODS, WorkingCalendar
from incidents import intake, lifecycle
from incidents.models import Case
from incidents.photos import prepare_photo
from tests.conftest import api_client, jpeg, make_user, point_in

TZ = ZoneInfo("Asia/Shanghai")


def _dispatched(people, bureau, category="SJ0601", description=""):
    lon, lat = point_in(people["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category=category, source="hotline_12345",
                                       description=description)).case
    case = lifecycle.register(case, people["operator"])
    return lifecycle.dispatch(case, people["dispatcher"], bureau=bureau, note="test")


def _deadline(case, when):
    Case.objects.filter(pk=case.pk).update(deadline=when)
    case.refresh_from_db()
    return case


@pytest.mark.parametrize(("start", "end", "hours"), [
    (datetime(2026, 11, 25, 9, 0, tzinfo=TZ), datetime(2026, 11, 25, 11, 0, tzinfo=TZ), 2.0),
    (datetime(2026, 11, 25, 11, 0, tzinfo=TZ), datetime(2026, 11, 25, 15, 30, tzinfo=TZ), 2.0),  # lunch off
    (datetime(2026, 11, 27, 16, 30, tzinfo=TZ), datetime(2026, 11, 30, 9, 30, tzinfo=TZ), 2.0),  # the weekend off
    (datetime(2026, 11, 25, 12, 10, tzinfo=TZ), datetime(2026, 11, 25, 14, 20, tzinfo=TZ), 0.0),
    (datetime(2026, 11, 30, 9, 30, tzinfo=TZ), datetime(2026, 11, 27, 16, 30, tzinfo=TZ), -2.0),  # overdue
])
def test_office_hours_between_two_instants(start, end, hours):
    calendar = WorkingCalendar(frozenset(), frozenset(), DEFAULT_PERIODS)
    assert calendar.working_hours(start, end) == pytest.approx(hours)
    if hours >= 0:  # the inverse of adding office hours
        assert calendar.working_hours(start, calendar.add(start, hours=3.25)) == pytest.approx(3.25)


def test_the_queue_is_the_bureaus_open_cases_deadline_first(people):
    now = timezone.now()
    late = _deadline(_dispatched(people, people["cg"], description="晚了"), now - timedelta(hours=30))
    soon = _deadline(_dispatched(people, people["cg"]), now + timedelta(days=3))
    none = _deadline(_dispatched(people, people["cg"]), None)
    _dispatched(people, people["water"])  # another bureau's
    done = lifecycle.accept(_dispatched(people, people["cg"]), people["cg_staff"])
    lifecycle.process(done, people["cg_staff"], note="好了", photos=[
        prepare_photo(SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg"), keep_metadata=True)])

    client = api_client(people["cg_staff"])
    queue = client.get(reverse("dispatch:bureau-queue")).json()
    assert [r["number"] for r in queue["results"]] == [late.number, soon.number, none.number]
    assert queue["count"] == 3
    first = queue["results"][0]
    calendar = WorkingCalendar.load()
    assert first["hours_left"] < 0 and first["sla"] == "red"
    assert first["hours_left"] == pytest.approx(calendar.working_hours(timezone.now(), late.deadline), abs=0.1)
    assert first["place"] == "雨湖区 城正街街道 和平社区" and first["allowed_actions"] == ["accept", "return"]
    assert first["deadline"].endswith("+08:00")  # the city's time, as the case API gives it
    assert queue["results"][2]["hours_left"] is None
    processed = client.get(reverse("dispatch:bureau-queue"), {"status": "processed"}).json()["results"]
    assert [r["number"] for r in processed] == [done.number] and processed[0]["allowed_actions"] == []
    only_late = client.get(reverse("dispatch:bureau-queue"), {"escalated": "true"}).json()["results"]
    assert [r["number"] for r in only_late] == [late.number]
    assert client.get(reverse("dispatch:bureau-queue"), {"status": "closed"}).status_code == 400
    # Another bureau's staff see none of these; nobody but bureau staff has a queue.
    water = api_client(people["water_staff"]).get(reverse("dispatch:bureau-queue")).json()
    assert water["count"] == 1 and late.number not in {r["number"] for r in water["results"]}
    assert api_client(people["dispatcher"]).get(reverse("dispatch:bureau-queue")).status_code == 403


def test_escalations_are_marked_for_whom_the_watch_addressed_them(people):
    from dispatch.watch import watch_deadlines
    from dispatch.workbench import receives_escalations

    now = timezone.now()
    case = _deadline(_dispatched(people, people["cg"]), now - timedelta(minutes=5))
    head = make_user("cg_head", roles.BUREAU_STAFF, bureau=people["cg"])
    people["cg"].supervisor = head
    people["cg"].save()
    assert watch_deadlines(now)["escalated"] == 1
    assert receives_escalations(head) and not receives_escalations(people["cg_staff"])
    mine = api_client(head).get(reverse("dispatch:bureau-queue")).json()["results"][0]
    theirs = api_client(people["cg_staff"]).get(reverse("dispatch:bureau-queue")).json()["results"][0]
    assert mine["number"] == theirs["number"] == case.number
    assert mine["escalation"]["level"] == "overdue" and mine["escalation"]["to_me"] is True
    assert theirs["escalation"]["to_me"] is False
    # After an approved postponement the old escalation no longer applies to the new deadline.
    _deadline(case, now + timedelta(days=5))
    assert api_client(head).get(reverse("dispatch:bureau-queue")).json()["results"][0]["escalation"] is None


def test_the_feed_reaches_bureau_staff_scoped_to_their_bureau(people):
    client = api_client(people["cg_staff"])
    cursor = max([e["id"] for e in client.get(reverse("dispatch:events")).json()["events"]], default=0)
    ours = _dispatched(people, people["cg"])
    theirs = _dispatched(people, people["water"])
    events = client.get(reverse("dispatch:events"), {"after": cursor}).json()["events"]
    numbers = {e["case"]["number"] for e in events}
    assert ours.number in numbers and theirs.number not in numbers
    assert any(e["action"] == "dispatch" and e["to_status"] == "dispatched" for e in events)
    # A return takes the case out of the bureau's sight; the workbench still hears of its own step.
    cursor = max(e["id"] for e in events)
    lifecycle.return_case(ours, people["cg_staff"], reason="不属于本部门")
    later = client.get(reverse("dispatch:events"), {"after": cursor}).json()["events"]
    assert [e["action"] for e in later if e["case"]["number"] == ours.number and e["id"] > cursor] == ["return"]
    assert client.get(reverse("incidents:case-detail", args=[ours.number])).status_code == 404
    stream = client.get(reverse("dispatch:stream"))
    assert stream.status_code == 200 and stream["Content-Type"] == "text/event-stream"
    stream.close()


def test_each_role_lands_on_its_page_and_the_administrators_on_the_admin_site(client, people):
    admin = make_user("sysadmin", roles.ADMIN)
    secadmin = make_user("secadmin", roles.SECADMIN)
    for user, target in ((people["cg_staff"], "/bureau/"), (admin, "/admin/"), (secadmin, "/admin/"),
                         (people["dispatcher"], "/console/"), (people["inspector"], "/inspector/")):
        client.force_login(user)
        assert client.get("/")["Location"] == target, user.username
    admin.is_staff = True
    admin.save()
    client.force_login(admin)
    assert 'href="/admin/"' in client.get("/map/").content.decode()  # and a way there from the pages
    client.force_login(people["cg_staff"])
    assert 'href="/admin/"' not in client.get("/bureau/").content.decode()


def test_refusals_and_unknown_pages_are_framed_in_chinese_with_a_way_back(client, people):
    client.force_login(people["cg_staff"])
    refused = client.get("/console/")
    page = refused.content.decode()
    assert refused.status_code == 403 and "无权访问" in page and 'href="/"' in page and "topbar" in page
    assert "Forbidden" not in page
    missing = client.get("/no-such-page/")
    page = missing.content.decode()
    assert missing.status_code == 404 and "页面不存在" in page and 'href="/"' in page and "topbar" in page
    client.cookies["django_language"] = "en"
    assert "Not allowed" in client.get("/console/").content.decode()


def test_the_inspector_ranking_ranks_inspectors_only(people):
    from dispatch.evaluation import evaluate

    lon, lat = point_in(people["a"])
    intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="inspector"),
                  reporter=people["inspector"])
    intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="hotline_12345"),
                  reporter=people["operator"])
    start = timezone.now() - timedelta(days=1)
    ranked = [f.code for f in evaluate("inspector", start, start + timedelta(days=2))]
    assert ranked == ["insp"]


def test_case_lists_give_bureau_and_place_names(people):
    case = _dispatched(people, people["cg"])
    feature = api_client(people["dispatcher"]).get(reverse("incidents:case-list")).json()["features"][0]
    assert feature["id"] == case.number
    assert feature["properties"]["bureau_name"] == "雨湖区城管局"
    assert feature["properties"]["place"] == "雨湖区 城正街街道 和平社区"


def test_admin_shows_the_lattices_in_chinese(client, db):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", password="Correct-horse-42"))
    index = client.get("/admin/").content.decode()
    assert "网格格网" in index and "Lattices" not in index
    for name in ("处置力量", "处置力量派遣记录", "评价权重", "阶段时限"):  # the four models that had no admin
        assert name in index, name
