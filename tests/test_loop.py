"""The whole closed loop in a real browser (Debian's chromium), through the pages only — no API call and no ORM
shortcut moves the case; the database is only read, to check. Each person logs in through the login form in a
browser context of their own, against the live server in production mode, every page watched by tests/browser.py
(an uncaught error, a CSP violation or a failed request on any page fails the test):

a citizen without an account reports on /report/ from a 360 px phone, with a photo and a contact number → the
operator registers it at the command console (the hotline desk takes calls; the web's reports wait on the
console) → the dispatcher dispatches it to the bureau the routing rule suggests → the bureau's user, on a 360 px
phone, hears of it, accepts it and reports it processed with an after-photo → the inspector passes it among his
verification tasks → the dispatcher closes it → the operator calls the citizen back (satisfied) at the hotline
desk → the citizen opens the tracking link the phone kept and reads 已结案 with the photo of the fix."""

import pytest

from dispatch.models import RoutingRule
from incidents.models import Callback, Case, Category, Photo
from incidents.publication import load_default_rules
from tests.browser import browser, login, screenshot_dir
from tests.conftest import point_in
from tests.test_faces import _phone, offline_tiles  # noqa: F401 — a fixture, used below by name

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("offline_tiles")]
PASSWORD = "Correct-horse-42"
DESK = {"viewport": {"width": 1600, "height": 900}, "timezone_id": "Asia/Shanghai"}
CONTACT = ("王先生", "13800002468")


def _photo(tmp_path, name: str, bin_colour: tuple[int, int, int], litter: bool):
    """A camera's picture of a rubbish bin by a wall (a phone's size, 4000 × 3000), with rubbish around it or not."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (4000, 3000), (196, 190, 178))  # the wall
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 1900, 4000, 3000), fill=(120, 118, 112))  # the pavement
    draw.rectangle((1500, 900, 2500, 2300), fill=bin_colour)  # the bin
    draw.rectangle((1420, 820, 2580, 960), fill=tuple(max(0, c - 40) for c in bin_colour))  # its lid
    if litter:
        for i in range(14):
            x, y = 700 + 190 * i, 2150 + (i * 137) % 500
            draw.ellipse((x, y, x + 260, y + 170), fill=((90 + 23 * i) % 256, 80, (40 + 51 * i) % 256))
    path = tmp_path / name
    image.save(path, "JPEG", quality=80)
    return path


def _photos_loaded(page, selector: str) -> None:
    page.wait_for_selector(f"{selector} img")
    page.wait_for_function("s => [...document.querySelectorAll(s + ' img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)", arg=selector)


def _status(number: str) -> str:
    return Case.objects.get(number=number).status


def test_the_whole_loop_through_the_pages(live_server, people, tmp_path):
    load_default_rules()  # the shipped publication rules (the transactional flush took them away)
    # The routing rule that makes 雨湖区城管局 the bureau the console suggests for rubbish in 雨湖区.
    RoutingRule.objects.create(category=Category.objects.get(code="SJ0102"), area=people["west"], bureau=people["cg"])
    cg = people["cg"]
    lon, lat = point_in(people["a"])  # in the inspector's cells
    with browser() as b:
        # ---- the citizen, no account, on a phone: /report/ with a photo and a contact for the callback
        phone, citizen = _phone(b, lon, lat)
        citizen.goto(live_server.url + "/report/")
        citizen.wait_for_selector("#where[data-inside='1']")
        assert "和平社区" in citizen.inner_text("#where")
        citizen.wait_for_selector("#category[data-ready='1']")
        citizen.select_option("#category", "SJ0102")
        citizen.fill("textarea[name=description]", "楼下垃圾桶满溢，三天没人清运")
        citizen.fill("input[name=address]", "和平路 8 号门口")
        citizen.set_input_files("#photo", str(_photo(tmp_path, "before.jpg", (46, 125, 50), litter=True)))
        citizen.wait_for_selector("#previews[data-count='1'] img")
        citizen.click(".contact summary")
        citizen.fill("input[name=contact_name]", CONTACT[0])
        citizen.fill("input[name=contact_phone]", CONTACT[1])
        citizen.click("#submit")
        citizen.wait_for_selector("#result [data-number]")
        number = citizen.get_attribute("#result [data-number]", "data-number")
        case = Case.objects.get(number=number)
        assert (case.status, case.source, case.reporter, case.contact_phone) == ("reported", "web", None, CONTACT[1])
        [before_photo] = Photo.objects.filter(case=case)
        citizen.click("#track-link")
        citizen.wait_for_selector("#status[data-status='reported']")
        track_url = citizen.url

        # ---- the operator: lands on the hotline desk; the web's reports are registered at the console
        operator = b.new_context(**DESK).new_page()
        login(operator, live_server.url, "oper", PASSWORD)
        assert operator.url.endswith("/hotline/")
        operator.click(".pages-nav a[href='/console/']")
        operator.wait_for_url("**/console/")
        operator.click(f"#list li[data-number='{number}']")
        operator.wait_for_selector(f"#panel[data-number='{number}'] [data-action='register']")
        panel = operator.inner_text("#panel")
        assert "楼下垃圾桶满溢" in panel and CONTACT[1] in panel and "和平社区" in panel  # what the citizen said
        _photos_loaded(operator, "#panel .photos")  # and the citizen's photo
        assert operator.locator("#panel [data-action='dispatch']").count() == 0  # dispatching is not his
        operator.click("#panel [data-action='register']")
        operator.wait_for_selector(f"#panel[data-number='{number}'] .routing")
        assert operator.locator("#panel [data-action='register']").count() == 0
        assert cg.name in operator.inner_text("#panel .routing")  # routed: the rule's bureau, by name
        assert _status(number) == "registered"
        operator.click(".pages-nav a[href='/hotline/']")  # back to the desk for the next call
        operator.wait_for_selector("#phone:focus")

        # ---- the bureau's user on a phone, at the workbench before the case comes
        bureau_phone, bureau = _phone(b, lon + 0.001, lat)
        login(bureau, live_server.url, "cg1", PASSWORD)
        assert bureau.url.endswith("/bureau/")
        bureau.wait_for_selector("#live.on")
        assert bureau.locator(f"#queue li[data-number='{number}']").count() == 0

        # ---- the dispatcher: the rule's bureau is suggested; one click dispatches
        dispatcher = b.new_context(**DESK).new_page()
        login(dispatcher, live_server.url, "disp_city", PASSWORD)
        assert dispatcher.url.endswith("/console/")
        dispatcher.wait_for_selector("#live.on")
        dispatcher.click(f"#list li[data-number='{number}']")
        dispatcher.wait_for_selector(f"#panel[data-number='{number}'] [data-action='dispatch']")
        dispatcher.wait_for_selector(f"#act select[name=bureau] option[value='{cg.code}']", state="attached")
        assert dispatcher.input_value("#act select[name=bureau]") == cg.code  # preselected by the routing rule
        assert cg.name in dispatcher.inner_text("#panel .routing")
        # the class filter offers the catalogue's major classes, each once, by code and name
        classes = dispatcher.eval_on_selector_all("#f-class option", "os => os.map(o => o.value)")
        assert "SJ01" in classes and len(classes) == len(set(classes)) > 5
        dispatcher.click("#panel [data-action='dispatch']")
        dispatcher.wait_for_selector(f"#list li[data-number='{number}']:has-text('{cg.name}')")
        # the panel names the bureau the case went to (not only the rule's suggestion)
        dispatcher.wait_for_selector(f"#panel[data-number='{number}'] p:has-text('责任部门 {cg.name}')")
        assert _status(number) == "dispatched"

        # The citizen's page follows: sent to the bureau, by name.
        citizen.reload()
        citizen.wait_for_selector("#status[data-status='dispatched']")
        assert cg.name in citizen.inner_text(".facts")

        # ---- the bureau's phone: announced without a reload; accept; processed with an after-photo
        bureau.wait_for_selector(f"#banner[data-number='{number}']:not([hidden])", timeout=15000)
        bureau.click(f"#banner [data-open='{number}']")
        bureau.wait_for_selector(f"#panel[data-number='{number}'] [data-action='accept']")
        assert "楼下垃圾桶满溢" in bureau.inner_text("#panel")
        _photos_loaded(bureau, "#panel .photos")  # the citizen's photo, to find the place
        assert bureau.evaluate("document.documentElement.scrollWidth") <= 360
        bureau.click("#panel [data-action='accept']")
        bureau.wait_for_selector("#panel form[data-action='process']")
        bureau.fill("#panel textarea[name=note]", "已清运，垃圾桶已清洗")
        after = _photo(tmp_path, "after.jpg", (46, 125, 50), litter=False)  # the same bin, the rubbish gone
        bureau.set_input_files("#panel input[data-photo][capture]", str(after))  # the camera
        bureau.wait_for_selector("#previews[data-count='1']")
        bureau.click("#panel form[data-action='process'] [type=submit]")
        bureau.wait_for_selector("#panel .done")
        bureau.wait_for_selector("#panel form[data-action='process']", state="detached")
        assert _status(number) == "processed"
        [after_photo] = Photo.objects.filter(case=case, kind="after")
        assert max(after_photo.width, after_photo.height) <= 1600  # resized on the phone
        bureau_phone.close()

        # ---- the inspector: a verification task in his cells, with the after-photo; passed
        inspector_phone, inspector = _phone(b, lon, lat)
        login(inspector, live_server.url, "insp", PASSWORD)
        assert inspector.url.endswith("/inspector/")
        inspector.wait_for_selector("#task-count:text('1')")  # the task's count, as the page opens
        # The tab reloads the tasks: what the page drew on opening is marked, to be told from what the tab draws.
        inspector.evaluate("document.querySelectorAll('#tasks li').forEach(li => { li.dataset.before = '1'; })")
        inspector.click(".tabs [data-tab='tasks']")
        task = f"#tasks li[data-number='{number}']:not([data-before])"
        inspector.wait_for_selector(f"{task} [data-verify='pass']")
        _photos_loaded(inspector, f"{task} .after")
        inspector.wait_for_selector(f"{task} .task-work p")
        card = inspector.inner_text(task)  # where to go and what to check: the place, what was said, what was done
        assert "雨湖区 城正街街道 和平社区 · 和平路 8 号门口" in card and case.cell.code in card, card
        assert "楼下垃圾桶满溢" in card and "处置情况: 已清运，垃圾桶已清洗" in card, card
        assert inspector.get_attribute(f"{task} .after img", "src").startswith(
            f"/api/cases/photos/{after_photo.pk}/")  # the photo of the fix, not the citizen's
        inspector.click(f"{task} [data-verify='pass']")
        inspector.wait_for_selector(task, state="detached")
        assert _status(number) == "verified"
        inspector_phone.close()

        # ---- the dispatcher's console, still open: the verified case offers 结案; closed
        dispatcher.wait_for_selector(f"#panel[data-number='{number}'] [data-action='close']", timeout=15000)
        dispatcher.click("#panel [data-action='close']")
        dispatcher.wait_for_selector(f"#panel[data-number='{number}'] h2:has-text('已结案')")
        dispatcher.wait_for_selector(f"#list li[data-number='{number}']", state="detached")  # no longer open
        assert _status(number) == "closed"

        # ---- the operator calls the citizen back: reached, satisfied
        operator.click("#tab-btn-callbacks")
        due = f"#due li[data-number='{number}']"
        operator.wait_for_selector(due)
        assert CONTACT[1] in operator.inner_text(due)
        operator.click(due)
        operator.wait_for_selector("#callback:not([hidden])")
        assert CONTACT[1] in operator.inner_text("#cb-detail")
        operator.check("input[name=reached][value=true]")
        operator.check("input[name=satisfaction][value=satisfied]")
        assert operator.locator("#cb-reopen-line").is_hidden()  # rework is offered on "not satisfied" only
        operator.fill("#callback textarea[name=note]", "市民表示满意")
        operator.click("#callback button[type=submit]")
        operator.wait_for_selector(f"#cb-result [data-number='{number}'][data-status='closed']")
        operator.wait_for_selector(due, state="detached")  # called back: off the list
        callback = Callback.objects.get(case=case)
        assert (callback.reached, callback.satisfaction, callback.reopened, callback.operator) == (
            True, "satisfied", False, people["operator"])

        # ---- the citizen opens the tracking link the phone kept: closed, with the photo of the fix
        citizen.goto(live_server.url + "/report/")
        citizen.click(f"#mine a[href*='{number}']")
        citizen.wait_for_selector("#status[data-status='closed']")
        assert citizen.url == track_url
        assert citizen.inner_text("#status") == "已结案"
        _photos_loaded(citizen, "#after-photos")
        shown = citizen.eval_on_selector_all("#after-photos img", "els => els.map(e => e.getAttribute('src'))")
        assert [src.split("?")[0] for src in shown] == [f"/track/{number}/photos/{after_photo.pk}/"]
        assert before_photo.pk != after_photo.pk
        steps = citizen.eval_on_selector_all("#steps li", "els => els.map(e => e.dataset.action)")
        assert steps == ["report", "register", "dispatch", "accept", "process", "verify_pass", "close"]
        assert cg.name in citizen.inner_text(".facts")
        for private in (*CONTACT, "楼下垃圾桶", "和平路 8 号", "已清运", "市民表示满意"):  # nothing personal, no notes
            assert private not in citizen.content(), private
        citizen.wait_for_selector("#map[data-ready='1']")
        # The whole page in one picture: the page scrolls inside <main>, let it grow for the screenshot.
        citizen.add_style_tag(content="html, body { height: auto !important; } main { overflow: visible !important; }")
        citizen.screenshot(path=str(screenshot_dir() / "track-closed.png"), full_page=True)
        phone.close()
    case.refresh_from_db()
    assert (case.status, case.bureau, case.rework_count) == ("closed", cg, 0)
    actions = list(case.log.order_by("pk").values_list("action", flat=True))
    assert actions == ["report", "register", "route", "dispatch", "accept", "process", "verify_pass", "close",
                       "callback"]
    actors = dict(case.log.exclude(actor=None).values_list("action", "actor__username"))
    assert actors == {"register": "oper", "dispatch": "disp_city", "accept": "cg1", "process": "cg1",
                      "verify_pass": "insp", "close": "disp_city", "callback": "oper"}
