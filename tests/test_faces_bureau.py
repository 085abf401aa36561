"""The bureau's workbench and the crew's phone in a real browser (Debian's chromium), against the live server in
production mode, every page watched by tests/browser.py: a bureau user on a 360 px phone sees a newly dispatched
case appear and be announced, accepts it and reports it processed with an after-photo taken on the phone, and
meets a 409; a crew's phone shares its position, receives the unit the dispatcher sends from the console and steps
it through acknowledge, arrive and clear; a district dispatcher reads words, not codes. Screenshots go to
docs/screenshots/."""

import pytest
from django.utils import timezone

from citygrid import roles
from dispatch.models import ResponseUnit, RoutingRule, UnitAssignment
from incidents import intake, lifecycle
from incidents.models import Case, Category, Photo
from tests.browser import browser, login, screenshot_dir
from tests.conftest import make_user, point_in
from tests.test_faces import _phone, _photo_file, offline_tiles  # noqa: F401 — a fixture, used below by name

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("offline_tiles")]
PASSWORD = "Correct-horse-42"


def _dispatched(people, description: str, community: str = "a") -> Case:
    lon, lat = point_in(people[community])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0102", source="hotline_12345",
                                       description=description)).case
    return lifecycle.dispatch(lifecycle.register(case, people["operator"]), people["dispatcher"], bureau=people["cg"],
                              note="就近处置")


def test_bureau_accepts_a_new_case_and_reports_it_processed_with_a_photo_on_a_phone(live_server, people, tmp_path):
    lon, lat = point_in(people["a"])
    waiting = _dispatched(people, "路边垃圾桶满溢")
    with browser() as b:
        context, page = _phone(b, lon, lat)
        login(page, live_server.url, "cg1", PASSWORD)
        assert page.url.endswith("/bureau/")  # bureau staff land on their workbench
        page.wait_for_selector(f"#queue li[data-number='{waiting.number}']")
        page.wait_for_selector("#live.on")
        # On a phone: nothing wider than the screen, and the name and the language switch still there.
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert page.locator(".topbar .who").is_visible() and page.locator(".topbar select[name=language]").is_visible()

        fresh = _dispatched(people, "人行道上堆放建筑垃圾")  # dispatched while the page is open
        page.wait_for_selector(f"#banner[data-number='{fresh.number}']:not([hidden])", timeout=15000)  # announced
        page.wait_for_selector(f"#queue li[data-number='{fresh.number}']")  # and in the queue, without a reload
        assert "新派遣案件" in page.inner_text("#banner")
        page.screenshot(path=str(screenshot_dir() / "bureau-phone.png"))

        page.click(f"#banner [data-open='{fresh.number}']")
        page.wait_for_selector(f"#panel[data-number='{fresh.number}'] [data-action='accept']")
        page.click("#panel [data-action='accept']")
        page.wait_for_selector("#panel form[data-action='process']")
        page.fill("#panel textarea[name=note]", "已清运，恢复通行")
        page.set_input_files("#panel input[data-photo][capture]", str(_photo_file(tmp_path)))  # the camera
        page.wait_for_selector("#previews[data-count='1']")
        page.locator("#panel form[data-action='process'] [type=submit]").scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot_dir() / "bureau-phone-process.png"))
        page.click("#panel form[data-action='process'] [type=submit]")
        page.wait_for_selector("#panel form[data-action='process']", state="detached")  # nothing left to do here
        page.wait_for_selector("#panel .done")
        fresh.refresh_from_db()
        assert fresh.status == "processed"
        [after] = Photo.objects.filter(case=fresh, kind="after")
        assert max(after.width, after.height) <= 1600  # resized on the phone before upload

        # A stale panel (the case changed after it was shown): the 409 is said plainly and the case shown afresh.
        page.click("#panel .back:not(.close-panel)")
        page.click(f"#queue li[data-number='{waiting.number}']")
        page.wait_for_selector(f"#panel[data-number='{waiting.number}'] [data-action='accept']")
        page.evaluate("document.getElementById('panel').dataset.version = '0'")  # as if loaded before a change
        b.allow(rf"/api/cases/{waiting.number}/accept/$", status=409)
        page.click("#panel [data-action='accept']")
        page.wait_for_selector("#panel .conflict")
        assert page.get_attribute("#panel", "data-version") == str(waiting.version)
        context.close()

        # The same page on a desk, for the README.
        desk = b.new_page(viewport={"width": 1400, "height": 850})
        login(desk, live_server.url, "cg1", PASSWORD)
        another = _dispatched(people, "小区门口暴露垃圾")
        desk.wait_for_selector(f"#queue li[data-number='{another.number}']", timeout=15000)
        desk.click(f"#queue li[data-number='{another.number}']")
        desk.wait_for_selector("#panel [data-action='accept']")
        desk.screenshot(path=str(screenshot_dir() / "bureau.png"))


def test_the_map_follows_the_queue_when_the_case_shown_leaves_it(live_server, people):
    """Zoomed on a case, the bureau accepts it and it leaves the 已派遣 queue: the map goes to what is left rather
    than stay on an empty spot."""
    here = _dispatched(people, "路边垃圾桶满溢")
    there = _dispatched(people, "人行道上堆放建筑垃圾", community="b")
    markers_in_view = """() => { const box = document.getElementById('map').getBoundingClientRect();
        return [...document.querySelectorAll('#map .leaflet-marker-icon')].filter(m => {
            const r = m.getBoundingClientRect();
            return r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom;
        }).length; }"""
    with browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 900})
        login(page, live_server.url, "cg1", PASSWORD)
        page.select_option("#filters select[name=status]", "dispatched")
        page.wait_for_selector(f"#queue li[data-number='{there.number}']")
        page.click(f"#queue li[data-number='{here.number}']")
        page.wait_for_selector(f"#panel[data-number='{here.number}'] [data-action='accept']")
        page.wait_for_timeout(300)
        assert page.evaluate(markers_in_view) == 1  # zoomed on this one: the other is out of view
        page.click("#panel [data-action='accept']")
        page.wait_for_function(f"() => !document.querySelector(\"#queue li[data-number='{here.number}']\")")
        page.wait_for_function(f"() => ({markers_in_view})() === 1")  # the one left, brought into view


def test_a_crews_phone_receives_its_assignment_live_and_clears_it(live_server, people):
    lon, lat = point_in(people["a"])
    crew = make_user("crew1", roles.BUREAU_STAFF, bureau=people["cg"])
    unit = ResponseUnit.objects.create(code="CG-1", name="城管巡查一组", bureau=people["cg"], account=crew, crew_size=3)
    with browser() as b:
        context, page = _phone(b, lon + 0.002, lat)
        login(page, live_server.url, "crew1", PASSWORD)
        assert page.url.endswith("/unit/")  # a crew's phone lands on its unit
        page.wait_for_selector("#position[data-shared]")  # on duty: its position is shared
        unit.refresh_from_db()
        assert unit.position is not None and abs(unit.position.x - (lon + 0.002)) < 1e-6
        page.wait_for_selector("#task[data-assignment='']")

        # The dispatcher sends the nearest unit from the console in one click; the crew's phone hears of it.
        console = b.new_page(viewport={"width": 1600, "height": 900})
        login(console, live_server.url, "disp_city", PASSWORD)
        console.wait_for_selector("#live.on")
        emergency = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0405", urgency="emergency",
                                                source="hotline_12345", description="路段积水过膝")).case
        console.wait_for_selector(f"#banner[data-number='{emergency.number}']:not([hidden])", timeout=15000)
        console.click(f"#banner [data-open='{emergency.number}']")
        console.click("#units [data-send='CG-1']", timeout=15000)
        page.wait_for_selector("#task [data-step='acknowledge']", timeout=15000)
        assert page.is_visible("#banner") and emergency.number in page.inner_text("#banner")
        assert "路段积水过膝" in page.inner_text("#task")
        page.screenshot(path=str(screenshot_dir() / "unit.png"))
        for step, following in (("acknowledge", "arrive"), ("arrive", "clear")):
            page.click(f"#task [data-step='{step}']")
            page.wait_for_selector(f"#task [data-step='{following}']")
        page.click("#task [data-step='clear']")
        page.wait_for_selector("#task[data-assignment='']")
    assignment = UnitAssignment.objects.get(unit=unit, case=emergency)
    assert assignment.acknowledged_at <= assignment.arrived_at <= assignment.cleared_at
    unit.refresh_from_db()
    assert unit.state == "available"
    assert list(emergency.log.filter(action__startswith="unit").values_list("action", flat=True)) == [
        "units_sent", "unit_acknowledge", "unit_arrive", "unit_clear"]


def test_a_district_dispatcher_reads_words_not_codes(live_server, people):
    make_user("disp_west", roles.DISPATCHER, district=people["west"])
    RoutingRule.objects.create(category=Category.objects.get(code="SJ0102"), bureau=people["cg"])
    lon, lat = point_in(people["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0102", source="hotline_12345")).case
    case = lifecycle.register(case, people["operator"])
    with browser() as b:
        page = b.new_page(viewport={"width": 1600, "height": 900})
        login(page, live_server.url, "disp_west", PASSWORD)
        # His district and its streets to filter by, not the whole city.
        page.wait_for_function("() => document.querySelectorAll('#f-area option').length >= 3")
        areas = page.eval_on_selector_all("#f-area option", "os => os.map(o => o.textContent.trim())")
        assert areas == ["全部", "雨湖区", "城正街街道"]
        page.click(f"#list li[data-number='{case.number}']")
        page.wait_for_selector(f"#panel[data-number='{case.number}'] [data-action='dispatch']")
        panel = page.text_content("#panel")
        assert "雨湖区 城正街街道 和平社区" in panel  # the place by name
        log = page.text_content("#panel .log")
        assert "立案" in log and "路由" in log
        for english in ("register", "route", "report", "rule #"):
            assert english not in log and english not in page.text_content("#panel .routing")
        page.click("#panel [data-action='dispatch']")  # the rule's bureau is preselected
        page.wait_for_selector(f"#list li[data-number='{case.number}']:has-text('雨湖区城管局')")
        assert "430302-CG" not in page.inner_text("#list")  # bureaus by name in the list
    case.refresh_from_db()
    assert case.status == "dispatched" and case.bureau == people["cg"] and timezone.now() < case.deadline


def test_the_consoles_filters_take_every_page_of_districts_and_bureaus(live_server, people):
    """A province has more districts and bureaus than one page of the API holds: answered one a page, the city
    console's filters still list them all (CityGrid.features and CityGrid.rows follow `next`)."""
    import re

    with browser() as b:
        page = b.new_page(viewport={"width": 1600, "height": 900})
        paged: list[str] = []

        def one_a_page(route):
            paged.append(route.request.url)
            route.continue_(url=re.sub(r"page_size=\d+", "page_size=1", route.request.url))

        page.route(re.compile(r".*/api/(grids/)?(areas|bureaus)/\?.*page_size=(100|500)\b.*"), one_a_page)
        fetched: list[str] = []
        page.on("request", lambda r: fetched.append(r.url) if "/bureaus/" in r.url or "/areas/" in r.url else None)
        login(page, live_server.url, "disp_city", PASSWORD)
        page.wait_for_function("() => document.querySelectorAll('#f-area option').length >= 3 && "
                               "document.querySelectorAll('#f-bureau option').length >= 3")
        areas = page.eval_on_selector_all("#f-area option", "os => os.map(o => o.textContent.trim())")
        bureaus = page.eval_on_selector_all("#f-bureau option", "os => os.map(o => o.textContent.trim())")
        assert sorted(areas[1:]) == sorted([people["west"].name, people["east"].name])
        assert sorted(bureaus[1:]) == sorted(["雨湖区城管局", "湘潭市水务局"])
        assert any("areas" in u for u in paged) and any("bureaus" in u for u in paged)  # the pages were one row each
        for kind in ("areas", "bureaus"):  # and the second page of each was asked for
            assert any(f"/{kind}/" in u and re.search(r"[?&]page=2\b", u) for u in fetched), (kind, fetched)
