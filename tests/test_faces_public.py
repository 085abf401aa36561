"""The hotline desk and the public's pages in a real browser (Debian's chromium through Playwright) against the
live server: a citizen reports on a 360 px phone and follows the report; the operator takes a call, sees the
likely duplicate before saving and merges into it, then records a callback "not satisfied" that reopens the
case; the public map shows what is published and nothing else. Every page of every test fails it on an
uncaught error, a CSP violation or a failed request (tests/browser.py; tiles aside: there is no tile server
here)."""

import copy

import pytest
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile

from incidents import intake, lifecycle
from incidents.models import Callback, Case, Photo
from incidents.photos import prepare_photo
from incidents.publication import load_default_rules
from tests.browser import browser, login, screenshot_dir
from tests.conftest import jpeg, point_in

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "Correct-horse-42"
TILES = "http://127.0.0.1:9/"


@pytest.fixture
def city(people, settings):
    settings.TILE_URL = TILES + "{z}/{x}/{y}.png"  # no tile server: the pages must work without one
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["img-src"] = [*policy["DIRECTIVES"]["img-src"], TILES.rstrip("/")]
    settings.CONTENT_SECURITY_POLICY = policy
    load_default_rules()  # the transactional flush took the shipped publication rules away
    return people


def _camera_photo(tmp_path):
    from PIL import Image

    path = tmp_path / "camera.jpg"
    Image.new("RGB", (4000, 3000), (150, 120, 90)).save(path, "JPEG", quality=80)
    return path


def _phone(b, lon: float, lat: float):
    return b.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True,
                         has_touch=True, geolocation={"longitude": lon, "latitude": lat}, permissions=["geolocation"],
                         service_workers="block")


def _after_photo():
    return prepare_photo(SimpleUploadedFile("after.jpg", jpeg(640, 480), "image/jpeg"), keep_metadata=True)


def test_a_citizen_reports_on_a_phone_and_follows_the_report(live_server, city, tmp_path):
    lon, lat = point_in(city["a"])
    lon += 0.0002  # ~20 m from the cell's centre: the public sees the centre, never this point
    with browser() as b:
        context = _phone(b, lon, lat)
        page = context.new_page()
        page.goto(live_server.url + "/report/")  # no account
        page.wait_for_selector("#where[data-inside='1']")
        assert "和平社区" in page.inner_text("#where")
        page.wait_for_selector("#category[data-ready='1']")
        page.select_option("#category", "SJ0102")
        page.fill("textarea[name=description]", "小区门口垃圾堆了三天")
        page.fill("input[name=address]", "和平路 12 号旁")
        page.set_input_files("#photo", str(_camera_photo(tmp_path)))
        page.wait_for_selector("#previews[data-count='1'] img")
        page.click(".contact summary")
        page.fill("input[name=contact_name]", "李女士")
        page.fill("input[name=contact_phone]", "13800001111")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
        page.evaluate("document.querySelector('main').scrollTo(0, 0)")
        page.screenshot(path=str(screenshot_dir() / "report.png"))
        page.click("#submit")
        page.wait_for_selector("#result [data-number]")
        number = page.get_attribute("#result [data-number]", "data-number")
        code = page.inner_text("#result .code")
        case = Case.objects.get(number=number)
        assert (case.source, case.reporter, case.contact_phone, case.category.code) == (
            "web", None, "13800001111", "SJ0102")
        assert max(Photo.objects.get(case=case).width, Photo.objects.get(case=case).height) <= 1600  # resized
        page.click("#track-link")  # the tracking link
        page.wait_for_selector("#status")
        assert f"/track/{number}/" in page.url and code.replace("-", "") in page.url.replace("-", "")
        assert page.get_attribute("#status", "data-status") == "reported"
        page.wait_for_selector("#map[data-ready='1']")

        # The city works the case; the citizen's page shows each step and, once verified, the photo of the fix.
        dispatcher, staff = city["dispatcher"], city["cg_staff"]
        case = lifecycle.register(case, dispatcher)
        case.refresh_from_db()
        if case.status != "dispatched":
            case = lifecycle.dispatch(case, dispatcher, bureau=city["cg"], note="就近")
        case = lifecycle.accept(case, staff)
        case = lifecycle.process(case, staff, note="已清运", photos=[_after_photo()])
        case = lifecycle.verify(case, city["inspector"], passed=True, location=Point(lon, lat, srid=4326))
        lifecycle.close(case, dispatcher)
        page.reload()
        page.wait_for_selector("#status[data-status='closed']")
        page.wait_for_selector("#after-photos img")
        page.wait_for_function("() => [...document.querySelectorAll('#after-photos img')].every(i => i.complete "
                               "&& i.naturalWidth > 0)")
        steps = page.eval_on_selector_all("#steps li", "els => els.map(e => e.dataset.action)")
        assert steps == ["report", "register", "dispatch", "accept", "process", "verify_pass", "close"]
        text = page.inner_text("body")
        assert "已结案" in text and "雨湖区城管局" in text
        for private in ("李女士", "13800001111", "和平路 12 号", "小区门口垃圾"):
            assert private not in page.content(), private
        page.wait_for_selector("#map[data-ready='1']")
        # The whole page in one picture: the page scrolls inside <main>, let it grow for the screenshot.
        page.add_style_tag(content="html, body { height: auto !important; } main { overflow: visible !important; }")
        page.screenshot(path=str(screenshot_dir() / "track.png"), full_page=True)

        # The same phone keeps the link; a wrong code shows the form, whatever the number.
        page.goto(live_server.url + "/report/")
        page.wait_for_selector(f"#mine a[href*='{number}']")
        context.close()


def test_the_operator_sees_the_duplicate_before_saving_and_merges_the_call(live_server, city):
    anchor = city["a"].geom.point_on_surface  # where the desk puts a call placed by the community's name
    earlier = intake.submit(intake.Report(lon=anchor.x + 0.0001, lat=anchor.y, category="SJ0102", source="web",
                                          description="路口垃圾成堆", contact_phone="13900002222")).case
    past = intake.submit(intake.Report(lon=anchor.x, lat=anchor.y - 0.002, category="SJ0601",
                                       source="hotline_12345", contact_name="张先生",
                                       contact_phone="13907310001")).case
    with browser() as b:
        context = b.new_context(viewport={"width": 1600, "height": 900})
        page = context.new_page()
        login(page, live_server.url, "oper", PASSWORD)
        assert page.url.endswith("/hotline/")  # the operator lands on the desk
        page.wait_for_selector("#phone:focus")
        page.keyboard.type("13907310001")  # the caller's number: the earlier case shows as it is typed
        page.wait_for_selector(f"#earlier li[data-number='{past.number}'] .tag")
        assert page.input_value("#caller") == "张先生"  # the name the same number gave last time
        page.fill("#place", "和平")
        page.wait_for_selector("#place-list li.active")
        page.keyboard.press("Enter")  # picks the place: the map centres on it, the cell is found
        page.wait_for_selector("#where[data-cell]")
        assert page.get_attribute("#where", "data-cell").startswith(city["a"].code)
        page.focus("#category-search")
        page.keyboard.type("SJ0102")
        page.wait_for_selector("#category-list li.active")
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#duplicates li[data-number='{earlier.number}'] [data-merge]")  # before saving
        page.fill("#description", "同一处垃圾，来电催促")
        page.screenshot(path=str(screenshot_dir() / "hotline.png"))
        page.click(f"[data-merge='{earlier.number}']")  # merge into: one click
        page.wait_for_selector(f"#call-result [data-merged='{earlier.number}']")
        merged = Case.objects.get(number=page.get_attribute("#call-result [data-number]", "data-number"))
        assert (merged.status, merged.merged_into, merged.source) == ("merged", earlier, "hotline_12345")
        assert (merged.contact_phone, merged.contact_name, merged.reporter) == (
            "13907310001", "张先生", city["operator"])

        # The next call on the 12319 line, by keyboard alone: Enter saves (and registers) it.
        assert page.evaluate("document.activeElement.id") == "phone"
        page.check("input[name=source][value=hotline_12319]")
        page.focus("#phone")
        page.keyboard.type("0731-5820000")
        page.keyboard.press("Tab")
        page.keyboard.type("周先生")
        page.focus("#place")
        page.keyboard.type("建设")
        page.wait_for_selector("#place-list li.active")
        page.keyboard.press("Enter")
        page.wait_for_selector("#where[data-cell]")
        page.focus("#category-search")
        page.keyboard.type("占道")
        page.wait_for_selector("#category-list li.active")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        page.focus("#address")
        page.keyboard.type("建设路口")
        page.keyboard.press("Enter")
        page.wait_for_selector("#call-result .ok:not([data-merged])")
        number = page.get_attribute("#call-result [data-number]", "data-number")
        saved = Case.objects.get(number=number)
        assert (saved.source, saved.status, saved.address, saved.contact_name) == (
            "hotline_12319", "registered", "建设路口", "周先生")
        assert saved.community == city["b"]
        context.close()


def test_a_callback_not_satisfied_reopens_the_case(live_server, city):
    lon, lat = point_in(city["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0102", source="hotline_12345",
                                       contact_name="刘先生", contact_phone="13907320101"),
                         reporter=city["operator"]).case
    dispatcher, staff = city["dispatcher"], city["cg_staff"]
    case = lifecycle.register(case, dispatcher)
    case = lifecycle.dispatch(case, dispatcher, bureau=city["cg"])
    case = lifecycle.accept(case, staff)
    case = lifecycle.process(case, staff, note="已清运", photos=[_after_photo()])
    case = lifecycle.verify(case, city["inspector"], passed=True)
    case = lifecycle.close(case, dispatcher)
    with browser() as b:
        context = b.new_context(viewport={"width": 1600, "height": 900})
        page = context.new_page()
        login(page, live_server.url, "oper", PASSWORD)
        page.wait_for_selector("#callback-count:text('1')")
        page.keyboard.press("Alt+2")  # the callbacks
        page.wait_for_selector(f"#due li[data-number='{case.number}']")
        page.focus(f"#due li[data-number='{case.number}']")
        page.keyboard.press("Enter")
        page.wait_for_selector("#callback:not([hidden])")
        assert "13907320101" in page.inner_text("#cb-detail")
        page.check("input[name=reached][value=true]")
        page.check("input[name=satisfaction][value=not_satisfied]")
        page.wait_for_selector("#cb-reopen-line:not([hidden]) #cb-reopen:checked")  # reopening offered, on
        page.fill("#callback textarea[name=note]", "垃圾又堆起来了")
        page.screenshot(path=str(screenshot_dir() / "hotline-callback.png"))
        page.click("#callback button[type=submit]")
        page.wait_for_selector(f"#cb-result [data-number='{case.number}'][data-status='dispatched']")
        assert "雨湖区城管局" in page.inner_text("#cb-result")
        page.wait_for_function("() => !document.querySelector('#due li')")  # called back: off the list
        context.close()
    case.refresh_from_db()
    assert (case.status, case.bureau, case.rework_count) == ("dispatched", city["cg"], 1)
    callback = Callback.objects.get(case=case)
    assert (callback.reached, callback.satisfaction, callback.reopened, callback.operator) == (
        True, "not_satisfied", True, city["operator"])


def test_the_public_map_shows_what_is_published_and_nothing_else(live_server, city):
    lon, lat = point_in(city["a"])
    shown = [intake.submit(intake.Report(lon=lon + 0.0003 * i, lat=lat, category=code, source="web")).case
             for i, code in enumerate(("SJ0102", "BJ0109", "SJ0306"))]
    closed = intake.submit(intake.Report(lon=lon, lat=lat + 0.001, category="SJ0601", source="inspector"),
                           reporter=city["inspector"]).case
    Case.objects.filter(pk=closed.pk).update(status="closed")
    hidden = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0101", source="web",
                                         description="楼顶违建")).case  # internal: not published
    with browser() as b:
        context = b.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(live_server.url + "/public/")
        page.wait_for_selector("#map[data-ready='1']")
        assert page.get_attribute("#map", "data-points") == "4"
        listed = page.eval_on_selector_all("#recent [data-number]", "els => els.map(e => e.dataset.number)")
        assert set(listed) == {c.number for c in [*shown, closed]} and hidden.number not in page.content()
        assert "违建" not in page.content()
        page.click(f"#recent [data-number='{shown[0].number}']")
        page.wait_for_selector(".leaflet-popup-content")
        assert "暴露垃圾" in page.inner_text(".leaflet-popup-content")
        page.screenshot(path=str(screenshot_dir() / "public-map.png"))
        page.select_option("select[name=status]", "closed")
        page.wait_for_function("() => document.getElementById('map').dataset.points === '1'")
        page.select_option("select[name=status]", "")
        page.wait_for_function("() => document.getElementById('map').dataset.points === '4'")
        context.close()
