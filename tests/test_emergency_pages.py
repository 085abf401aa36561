"""The flood scenario in a real browser, through the pages only (issue 17's "done when"): 雨湖区's centre opens an
incident from an emergency case and raises it to level III; the city's centre activates the flood plan; the tasks
reach the water bureau's workbench, which sends its crew, and the crew's phone reports it done; the city
management bureau does its own; the city's centre issues a red warning, which appears in the CAP feed (valid
against the schema) and on the public page (a drill's never does); the city ends the response and the final
report prints, as a page and a PDF. The same scenario as a drill (opened by hand on the map) leaves the figures —
evaluation and the dashboard's KPIs — as they were. Every page is watched by tests/browser.py (uncaught errors,
CSP violations, failed requests)."""

import json
import xml.etree.ElementTree as ET

import pytest
import xmlschema
from django.utils import timezone

from alerts import cap
from alerts.models import EarlyWarning, WarningType
from alerts.warning_types import load_types
from emergency.models import Incident, IncidentTask
from tests.browser import browser, login, screenshot_dir
from tests.conftest import api_client, point_in
from tests.emergency_city import emergency_city, flood_case
from tests.test_faces import _phone, offline_tiles  # noqa: F401 — a fixture, used below by name

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("offline_tiles")]
PASSWORD = "Correct-horse-42"
DESK = {"viewport": {"width": 1600, "height": 900}, "timezone_id": "Asia/Shanghai"}


def _figures(user) -> str:
    """Evaluation and the dashboard's KPIs for this month, as the API gives them (what a drill must not move)."""
    today = timezone.localdate()
    start, end = today.replace(day=1).isoformat(), (today + timezone.timedelta(days=1)).isoformat()
    api = api_client(user)
    kpis = api.get(f"/api/dispatch/dashboard/kpis/?start={start}&end={end}")
    evaluation = api.get(f"/api/dispatch/evaluation/?dimension=bureau&start={start}&end={end}")
    assert kpis.status_code == evaluation.status_code == 200
    return json.dumps([kpis.json(), evaluation.json()], sort_keys=True, default=str)


def _work_tasks(b, live_server, username, lon, lat, *, crew_unit=None, shot=None):
    """A bureau's user (or a crew's phone) acknowledges and reports done every emergency task it sees."""
    ctx, page = _phone(b, lon, lat)
    login(page, live_server.url, username, PASSWORD)
    if not page.url.endswith(("/bureau/", "/unit/")):
        page.goto(live_server.url + "/bureau/")
    page.wait_for_selector("#incident-tasks li.incident-task")
    if crew_unit:  # the bureau's desk sends its crew first
        page.select_option("#incident-tasks .task-unit", crew_unit)
        page.click("#incident-tasks .task-assign")
        page.wait_for_selector("#incident-tasks li.incident-task:has-text('排涝抢修一队')")
        ctx.close()
        return
    while page.locator("#incident-tasks li.incident-task").count():
        item = page.locator("#incident-tasks li.incident-task").first
        task_id = item.get_attribute("data-task")
        if item.locator(".task-ack").count():
            item.locator(".task-ack").click()
            page.wait_for_selector(f"#incident-tasks li[data-task='{task_id}'] .task-ack", state="detached")
        if shot:
            page.screenshot(path=str(screenshot_dir() / shot), full_page=True)
            shot = None
        page.locator(f"#incident-tasks li[data-task='{task_id}'] input[name=note]").fill("已按预案完成，现场恢复")
        page.locator(f"#incident-tasks li[data-task='{task_id}'] form.task-done button").click()
        page.wait_for_selector(f"#incident-tasks li[data-task='{task_id}']", state="detached")
    ctx.close()


def _issue_red_warning(b, live_server, page, number: str, *, drill: bool) -> None:
    """The city's centre issues a red rainstorm warning for the incident from its board: the warnings page opens
    with the incident's area, the drill box the incident's; back on the board the warning is listed and in the
    timeline; it is in the Atom feed of warnings in force, its CAP document valid against the OASIS schema and
    naming the incident, and on the public page — unless it is a drill, which is never published."""
    if not WarningType.objects.exists():  # the transactional flush took the shipped types away
        load_types()
    page.click("#issue-warning")
    page.wait_for_selector("#issue:not([hidden]) #for-incident:not([hidden])")
    assert number in page.inner_text("#for-incident")
    assert page.locator("#map").get_attribute("data-polygons") == "1"  # the incident's area, drawn already
    assert page.is_checked("input[name=exercise]") is drill and page.is_disabled("input[name=exercise]")
    page.select_option("select[name=type]", "rainstorm")
    page.check("input[name=level][value=red]")
    headline = "城正街暴雨红色预警" + ("（演练）" if drill else "")
    page.fill("input[name=headline]", headline)
    page.fill("textarea[name=description]", "城正街一带1小时降雨量已超过50毫米，低洼路段和地下车库积水。")
    page.fill("textarea[name=instruction]", "低洼地区人员立即转移；车辆绕行城正街。")
    page.click("#issue button[type=submit]")
    page.wait_for_url(f"**/emergency/{number}/")
    page.wait_for_selector("#timeline li[data-action='warning_issued']")
    assert headline in page.inner_text("#warnings")
    warning = EarlyWarning.objects.get(headline=headline)
    assert (warning.level, warning.exercise, warning.incident) == ("red", drill, number)
    feed = page.request.get(live_server.url + "/public/warnings/feed.atom")
    assert feed.ok
    ns = {"atom": cap.ATOM_NS, "cap": cap.CAP_NS}
    entries = [e for e in ET.fromstring(feed.body()).findall("atom:entry", ns)
               if headline in (e.findtext("atom:title", namespaces=ns) or "")]
    assert len(entries) == (0 if drill else 1)
    if not drill:
        document = page.request.get(entries[0].find("atom:link[@type='application/cap+xml']", ns).get("href"))
        xmlschema.XMLSchema(str(cap.SCHEMA_PATH)).validate(document.text())
        assert ET.fromstring(document.body()).findtext("cap:info/cap:headline", namespaces=ns) == headline
        assert ET.fromstring(document.body()).findtext("cap:incidents", namespaces=ns) == number
    public = b.new_context(**DESK).new_page()
    public.goto(live_server.url + "/public/warnings/")
    public.wait_for_selector("#map[data-ready='1']")
    assert (headline in public.inner_text("#warnings")) is not drill
    public.context.close()


def _scenario(b, live_server, em, *, drill: bool, shots: bool) -> Incident:
    lon, lat = point_in(em["a"])
    # ---- 雨湖区's centre opens the incident: from the emergency case, or (a drill) by hand on the map
    district = b.new_context(**DESK).new_page()
    login(district, live_server.url, "disp_west", PASSWORD)
    if drill:
        district.goto(live_server.url + "/emergency/")
    else:
        case = flood_case(em)
        district.goto(live_server.url + f"/emergency/?case={case.number}")
    district.wait_for_selector("#open-form")
    district.fill("#open-form input[name=title]", "防汛演练：城正街积水" if drill else "城正街暴雨积水")
    district.select_option("#open-form select[name=event_type]", "flood")
    district.select_option("#open-form select[name=level]", "4")
    if drill:
        district.check("#open-form input[name=drill]")
        box = district.locator("#map").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        for dx, dy in ((-60, -60), (60, -60), (60, 60)):
            district.mouse.click(cx + dx, cy + dy)
            district.wait_for_timeout(150)
        district.mouse.dblclick(cx - 60, cy + 60)  # the map opens on the user's district
    if shots and not drill:
        district.screenshot(path=str(screenshot_dir() / "emergency-open.png"))
    district.click("#open-submit")
    district.wait_for_url("**/emergency/YJ*/")
    number = district.url.rstrip("/").rsplit("/", 1)[1]
    incident = Incident.objects.get(number=number)
    assert incident.drill is drill and incident.status == "occurred"
    if drill:
        assert district.locator("#drill-badge").is_visible()
    district.wait_for_selector("#timeline li[data-action='open']")
    district.select_option("#level-form select[name=level]", "3")
    district.fill("#level-form input[name=reason]", "积水范围扩大，两处小区地下车库进水")
    district.click("#level-submit")
    district.wait_for_selector("#timeline li[data-action='level_up']")
    assert "防汛" in district.inner_text("#suggested")  # the plan re-evaluated: the flood plan covers III
    incident.refresh_from_db()
    assert incident.level == 3

    # ---- the city's centre activates the flood plan
    city = b.new_context(**DESK).new_page()
    login(city, live_server.url, "disp_city", PASSWORD)
    city.goto(live_server.url + "/emergency/")  # the list's map: the districts named, the incident's area on it
    city.wait_for_selector(".leaflet-tooltip.area-label >> text=雨湖区")
    # a district's name on its largest part, not on an islet that comes first in its multipolygon
    islet = [[112.0, 27.0], [112.001, 27.0], [112.001, 27.001], [112.0, 27.0]]
    body = [[112.5, 27.5], [112.9, 27.5], [112.9, 27.9], [112.5, 27.9], [112.5, 27.5]]
    at = city.evaluate("g => { const p = CityGrid.labelPoint(g); return [p.lng, p.lat]; }",
                       {"type": "MultiPolygon", "coordinates": [[islet], [body]]})
    assert at == pytest.approx([112.7, 27.7])
    city.wait_for_selector(f"path.incident-area.level-{incident.level}")
    city.goto(live_server.url + f"/emergency/{number}/")
    city.wait_for_selector("#activate-submit:visible")
    city.click("#activate-submit")
    city.wait_for_selector("#tasks tbody tr.task >> nth=2")
    assert IncidentTask.objects.filter(incident=incident).count() == 3

    # ---- a red warning goes out to the public (a drill's never does)
    _issue_red_warning(b, live_server, city, number, drill=drill)

    # ---- the tasks reach the bureaus: the water bureau's desk sends its crew, the crew does it on its phone
    _work_tasks(b, live_server, "sw1", lon, lat, crew_unit="SW-01")
    _work_tasks(b, live_server, "crew_sw", lon, lat, shot=None if drill or not shots else "emergency-crew.png")
    _work_tasks(b, live_server, "cg1", lon, lat, shot=None if drill or not shots else "emergency-workbench.png")
    assert set(IncidentTask.objects.filter(incident=incident).values_list("state", flat=True)) == {"done"}
    water = IncidentTask.objects.get(incident=incident, bureau=em["water"])
    assert water.unit.code == "SW-01" and water.done_by.username == "crew_sw"

    # ---- the city ends the response; the final report prints
    city.reload()
    city.wait_for_selector("#tasks tbody tr.done >> nth=2")
    if shots and not drill:
        city.screenshot(path=str(screenshot_dir() / "emergency-board.png"))
    city.fill("#end-form input[name=note]", "积水已排除，交通恢复，转移群众已返回")
    city.click("#end-submit")
    city.wait_for_selector("#timeline li[data-action='end']")
    incident.refresh_from_db()
    assert incident.status == "ended"
    city.click("#report-final")
    city.wait_for_selector("#sitrep[data-kind='final']")
    text = city.inner_text("#sitrep")
    assert "积水已排除" in text and "湘潭市防汛应急预案" in text
    if drill:
        assert city.locator("#drill-table").count() == 1 and city.locator(".drill-mark").count() == 1
    if shots:
        name = "emergency-drill-report.png" if drill else "emergency-report.png"
        city.screenshot(path=str(screenshot_dir() / name), full_page=True)
    with city.expect_download() as download:
        city.click("#report-pdf")
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(4) == b"%PDF"
    return incident


def test_the_flood_scenario_and_the_same_as_a_drill(live_server, people):
    em = {**people, **emergency_city(people)}
    with browser() as b:
        incident = _scenario(b, live_server, em, drill=False, shots=True)
        assert incident.case_links.count() == 1
        before = _figures(people["dispatcher"])
        drill = _scenario(b, live_server, em, drill=True, shots=True)
        assert drill.case_links.count() == 0
        assert _figures(people["dispatcher"]) == before  # the drill left the figures as they were
