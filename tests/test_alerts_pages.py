"""Early warning through the pages, in a real browser (Debian's chromium through Playwright) against the live
server as production serves it: the city's centre issues a red warning with its area drawn on the map, it appears
in the Atom feed (its CAP document valid against the OASIS schema) and on the public page; the centre updates and
cancels it, each document referencing the original, and it leaves the public page. A drill shows, marked, on the
centre's page and never on the public's. Every page fails the test on an uncaught error, a CSP violation or a
failed request (tests/browser.py; tiles aside: there is no tile server here)."""

import copy
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
import xmlschema
from django.contrib.gis.geos import Point
from django.utils import timezone

from alerts import cap, rules
from alerts.models import EarlyWarning, WarningLog
from alerts.warning_types import load_types
from tests.browser import browser, login, screenshot_dir

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "Correct-horse-42"
TILES = "http://127.0.0.1:9/"
NS = {"cap": cap.CAP_NS, "atom": cap.ATOM_NS}
# The panel scrolled to the open warning's heading, below the sticky tabs (for the screenshot).
SCROLL_TO_DETAIL = """(() => {
  const panel = document.querySelector('.panel'), detail = document.getElementById('detail');
  panel.scrollTop += detail.getBoundingClientRect().top - panel.getBoundingClientRect().top - 70;
})()"""


@pytest.fixture
def offline_tiles(settings):
    settings.TILE_URL = TILES + "{z}/{x}/{y}.png"  # no tile server: the pages must work without one
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["img-src"] = [*policy["DIRECTIVES"]["img-src"], TILES.rstrip("/")]
    settings.CONTENT_SECURITY_POLICY = policy
    load_types()  # the transactional flush took the shipped warning types away
    return settings


def _context(b, width: int, height: int):
    return b.new_context(viewport={"width": width, "height": height}, timezone_id="Asia/Shanghai", locale="zh-CN")


def _draw(page, corners) -> None:
    """Click the area's corners on the map (pixel offsets from its centre), then 完成区域."""
    box = page.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in corners:
        page.mouse.click(cx + dx, cy + dy)
        page.wait_for_timeout(600)  # apart enough not to be a double click (which also finishes the area)
    page.click("[data-draw=finish]")


def test_the_city_centre_issues_a_red_warning_the_public_sees_it_then_update_and_cancel_reference_it(
        live_server, people, offline_tiles):
    schema = xmlschema.XMLSchema(str(cap.SCHEMA_PATH))
    drill = rules.issue(people["dispatcher"], rules.Draft(
        type="urban-flooding", level="orange", headline="城市内涝橙色预警（演练）", description="演练：低洼路段积水。",
        area={"type": "Polygon", "coordinates": [[[112.84, 27.84], [112.87, 27.84], [112.87, 27.87], [112.84, 27.84]]]},
        expires=timezone.now() + timedelta(hours=6), exercise=True))
    with browser() as b:
        centre = _context(b, 1400, 900).new_page()
        login(centre, live_server.url, "disp_city", PASSWORD)
        centre.goto(live_server.url + "/warnings/")
        centre.wait_for_selector("#map[data-ready='1']")
        assert "演练" in centre.inner_text(f"#list [data-id='{drill.pk}']")  # marked wherever it shows
        assert "红色 0" in centre.inner_text("#figures") and "橙色 0" in centre.inner_text("#figures")  # not counted
        centre.click("#new-warning")
        centre.select_option("select[name=type]", "rainstorm")
        centre.check("input[name=level][value=red]")
        assert centre.input_value("input[name=headline]") == "暴雨红色预警"  # suggested from the type and level
        centre.fill("input[name=headline]", "湘潭市城区暴雨红色预警")
        centre.fill("textarea[name=description]", "预计未来3小时城区降雨量将达100毫米以上，并伴有雷电和短时大风。")
        centre.fill("textarea[name=instruction]", "停止集会、停课、停业；低洼地区和危险地带人员立即转移。")
        _draw(centre, [(-160, -110), (140, -120), (170, 90), (-120, 120)])
        centre.wait_for_selector("#map[data-polygons='1']")
        centre.screenshot(path=str(screenshot_dir() / "warnings-issue.png"))
        centre.click("#issue button[type=submit]")
        centre.wait_for_selector("#detail:not([hidden]) .warning-log li[data-seq='1']")
        warning = EarlyWarning.objects.exclude(pk=drill.pk).get()
        assert (warning.level, warning.type.code, warning.issued_by, warning.exercise) == (
            "red", "rainstorm", people["dispatcher"], False)
        assert warning.area.num_geom == 1 and len(warning.area[0].exterior_ring) == 5
        assert people["city"].geom.intersects(warning.area)
        assert "红色 1" in centre.inner_text("#figures")

        # the Atom feed lists it, linking a CAP document valid against the schema
        public = _context(b, 1200, 800).new_page()
        feed = public.request.get(live_server.url + "/public/warnings/feed.atom")
        assert feed.ok
        entries = ET.fromstring(feed.body()).findall("atom:entry", NS)
        assert len(entries) == 1  # not the drill
        link = entries[0].find("atom:link[@type='application/cap+xml']", NS).get("href")
        document = public.request.get(link)
        assert document.ok
        schema.validate(document.text())
        original = ET.fromstring(document.body())
        assert original.findtext("cap:msgType", namespaces=NS) == "Alert"
        assert original.findtext("cap:info/cap:severity", namespaces=NS) == "Extreme"

        # the public page (no account) shows it on the map, and not the drill
        public.goto(live_server.url + "/public/warnings/")
        public.wait_for_selector("#map[data-ready='1']")
        assert public.get_attribute("#map", "data-warnings") == "1"
        card = public.inner_text("#warnings")
        assert "湘潭市城区暴雨红色预警" in card and "低洼地区" in card and "演练" not in card
        public.screenshot(path=str(screenshot_dir() / "warnings-public.png"))

        # an update through the page, then the cancel: each a document referencing the original
        update = centre.locator("#detail form.update")
        update.locator("textarea[name=instruction]").fill("停止集会、停课、停业；低洼地区人员立即转移；地铁站口设置挡水板。")
        update.locator("input[name=note]").fill("补充防御指引")
        update.locator("button[type=submit]").click()
        centre.wait_for_selector("#detail .warning-log li[data-seq='2']")
        assert "引用" in centre.inner_text("#detail .warning-log li[data-seq='2']")
        centre.evaluate(SCROLL_TO_DETAIL)
        centre.screenshot(path=str(screenshot_dir() / "warnings-centre.png"))
        cancel = centre.locator("#detail form.cancel")
        cancel.locator("input[name=note]").fill("降雨已明显减弱，解除预警")
        cancel.locator("button[type=submit]").click()
        centre.wait_for_selector("#detail .warning-log li[data-seq='3']")
        assert "已解除" in centre.inner_text("#detail .state")
        assert centre.locator("#detail form.update").count() == 0  # a cancelled warning offers no action

        log = list(WarningLog.objects.filter(warning=warning).order_by("seq"))
        assert [e.action for e in log] == ["issue", "update", "cancel"]
        reference = cap.reference(log[0])
        for entry in log[1:]:
            schema.validate(entry.cap_xml)
            assert entry.references.split(" ")[0] == reference
        assert ET.fromstring(log[2].cap_xml.encode()).findtext("cap:msgType", namespaces=NS) == "Cancel"

        # gone from the public page and the feed
        public.reload()
        public.wait_for_selector("#map[data-ready='1']")
        assert public.get_attribute("#map", "data-warnings") == "0"
        assert ET.fromstring(public.request.get(live_server.url + "/public/warnings/feed.atom").body()).findall(
            "atom:entry", NS) == []
        # the cancelled document itself stays public (references must resolve); the drill's never is
        assert public.request.get(live_server.url + f"/public/warnings/cap/{log[2].identifier}.xml").ok
        b.allow(r"/public/warnings/cap/.*\.xml$", 404)
        drill_id = WarningLog.objects.get(warning=drill).identifier
        assert public.request.get(live_server.url + f"/public/warnings/cap/{drill_id}.xml").status == 404


def test_a_leader_reads_the_warnings_without_actions(live_server, people, offline_tiles):
    warning = rules.issue(people["dispatcher"], rules.Draft(
        type="heat", level="yellow", headline="高温黄色预警", description="最高气温将升至37℃以上。",
        area=Point(112.9, 27.85).buffer(0.02).json, expires=timezone.now() + timedelta(hours=8)))
    with browser() as b:
        page = _context(b, 1280, 800).new_page()
        login(page, live_server.url, "lead", PASSWORD)
        page.goto(live_server.url + "/warnings/")
        page.wait_for_selector("#map[data-ready='1']")
        assert page.is_hidden("#new-warning")
        page.click(f"#list [data-id='{warning.pk}']")
        page.wait_for_selector("#detail .warning-log li[data-seq='1']")
        assert page.locator("#detail form").count() == 0
