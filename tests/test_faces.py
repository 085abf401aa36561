"""The three faces in a real browser (Debian's chromium through Playwright) against the live server: the
inspector's phone page (with a photo, and offline), the dispatcher's console (live, dispatch, emergency) and
the leader's dashboard (heatmap and choropleth). Screenshots go to docs/screenshots/."""

import copy
import csv
import re
import time
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from dispatch.models import ResponseUnit, UnitAssignment
from incidents.models import Case, Photo
from tests.browser import browser, login, screenshot_dir
from tests.conftest import point_in

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "Correct-horse-42"


@pytest.fixture
def offline_tiles(settings):
    settings.TILE_URL = "http://127.0.0.1:9/{z}/{x}/{y}.png"  # no tile server: layers must draw anyway
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["img-src"] = [*policy["DIRECTIVES"]["img-src"], "http://127.0.0.1:9"]
    settings.CONTENT_SECURITY_POLICY = policy
    settings.FEED_STREAM_SECONDS = 4  # streams end soon and reconnect: the live server's threads stay few
    return settings


def _phone(b, lon: float, lat: float, service_workers: str = "block"):
    # Chromium's offline emulation does not reach requests of pages a service worker controls: the tests of
    # the outbox run without it, one test checks the service worker itself.
    context = b.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True,
                            has_touch=True, geolocation={"longitude": lon, "latitude": lat},
                            permissions=["geolocation"], service_workers=service_workers,
                            timezone_id="Asia/Shanghai")
    return context, context.new_page()


def _photo_file(tmp_path):
    from PIL import Image

    path = tmp_path / "camera.jpg"
    Image.new("RGB", (4000, 3000), (90, 120, 150)).save(path, "JPEG", quality=80)  # a phone camera's size
    return path


def _choose(page, query: str, code: str) -> None:
    page.fill("#category-search", query)
    page.click(f"#category-list [data-code='{code}']")


def test_inspector_reports_with_a_photo_on_a_phone(live_server, people, offline_tiles, tmp_path):
    lon, lat = point_in(people["a"])
    with browser() as b:
        context, page = _phone(b, lon, lat)
        login(page, live_server.url, "insp", PASSWORD)
        assert page.url.endswith("/inspector/")  # the inspector lands on his page
        page.wait_for_selector("#where[data-cell]")
        cell = page.get_attribute("#where", "data-cell")
        assert cell and cell.startswith(people["a"].code)
        _choose(page, "垃圾", "SJ0102")
        page.fill("textarea[name=description]", "垃圾桶满溢")
        page.set_input_files("#photo", str(_photo_file(tmp_path)))
        page.wait_for_selector("#preview:not([hidden])")
        page.screenshot(path=str(screenshot_dir() / "inspector.png"))
        page.click("#submit")
        page.wait_for_selector("#result [data-number]")
        number = page.get_attribute("#result [data-number]", "data-number")
        context.close()
    case = Case.objects.get(number=number)
    assert case.cell.code == cell and case.category.code == "SJ0102" and case.reporter.username == "insp"
    photo = Photo.objects.get(case=case)
    assert max(photo.width, photo.height) <= 1600  # resized on the phone before upload


class CasePosts:
    """Every POST to /api/cases/ that reached the server, from every page of a context, by the report's client
    UUID: the server answers a resend with the same case (200), so the case count alone cannot tell a page that
    sends twice from one that sends once; the requests can."""

    UUID = re.compile(rb'name="client_uuid"\r\n\r\n([0-9a-f-]{36})\r\n')

    def __init__(self, context, base_url: str):
        self.path = base_url + "/api/cases/"
        self.answers: list[tuple[str, int]] = []  # (client UUID, status), in the order answered
        context.on("response", self._response)

    def _response(self, response) -> None:
        request = response.request
        if request.method == "POST" and request.url == self.path:
            found = self.UUID.search(request.post_data_buffer or b"")
            self.answers.append((found.group(1).decode() if found else "?", response.status))

    def by_report(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for uuid, status in self.answers:
            out.setdefault(uuid, []).append(status)
        return out


def _online_again(page) -> None:
    """Tell the page the network is back (as a flaky network does, again and again) and return when the outbox
    pass that starts has ended: a pass ends by redrawing the queue's count (inspector.js, showQueue), which
    replaces the count's text node even when the number stays the same."""
    page.evaluate("""() => new Promise(resolve => {
        const count = document.getElementById('queue-count');
        const observer = new MutationObserver(() => { observer.disconnect(); resolve(); });
        observer.observe(count, { childList: true });
        window.dispatchEvent(new Event('online'));
    })""")


def test_a_report_made_offline_is_sent_once_when_the_network_returns(live_server, people, offline_tiles):
    lon, lat = point_in(people["a"])
    before = set(Case.objects.values_list("pk", flat=True))
    with browser() as b:
        context, page = _phone(b, lon, lat)
        posts = CasePosts(context, live_server.url)
        login(page, live_server.url, "insp", PASSWORD)
        page.wait_for_selector("#where[data-cell]")
        page.wait_for_selector("#category-list [data-code]")
        b.allow(".", failure="ERR_INTERNET_DISCONNECTED")  # the outbox's tries while the network is off
        context.set_offline(True)
        page.wait_for_selector("#net.offline")
        _choose(page, "SJ0601", "SJ0601")
        page.click("#submit")
        page.wait_for_function("() => document.getElementById('queue-count').textContent === '1'")
        assert "queued" in page.get_attribute("#result p", "class")
        queued_at = page.inner_text("#queue li")  # in the phone's (the city's) time, not UTC
        now = timezone.localtime()
        assert any((now - timedelta(minutes=m)).strftime("%H:%M") in queued_at for m in (0, 1)), queued_at
        page.screenshot(path=str(screenshot_dir() / "inspector-offline.png"))
        assert set(Case.objects.values_list("pk", flat=True)) == before and posts.answers == []
        context.set_offline(False)
        # A flapping network: 'online' again, twice, while the first pass is still sending — no second pass.
        page.evaluate("window.dispatchEvent(new Event('online')); window.dispatchEvent(new Event('online'))")
        page.wait_for_selector("#result [data-number]", timeout=20000)  # sent when the network returned
        first = Case.objects.get(number=page.get_attribute("#result [data-number]", "data-number"))
        assert page.evaluate("(() => { const r = document.getElementById('result').getBoundingClientRect(); "
                             "return r.top >= 0 && r.bottom <= window.innerHeight; })()")  # said where it is seen
        page.wait_for_function("() => document.getElementById('queue-count').textContent === '0'")
        assert posts.by_report() == {str(first.client_uuid): [201]}
        # Another 'online' (a flaky network comes and goes): its whole outbox pass sends nothing again.
        _online_again(page)
        assert posts.by_report() == {str(first.client_uuid): [201]}

        # Queued, the page closed while still offline: the report waits on the phone (IndexedDB) and goes
        # when the page is opened again with the network back — once.
        context.set_offline(True)
        _choose(page, "SJ0601", "SJ0601")
        page.click("#submit")
        page.wait_for_function("() => document.getElementById('queue-count').textContent === '1'")
        page.close()
        context.set_offline(False)
        page = context.new_page()
        page.goto(live_server.url + "/inspector/")
        # Sent by the page's own pass on opening (the count reads 0 before that pass has looked: wait for the
        # answer, then for the pass to end).
        page.wait_for_selector("#result [data-number]", timeout=20000)
        page.wait_for_function("() => document.getElementById('queue-count').textContent === '0'")
        second = Case.objects.get(number=page.get_attribute("#result [data-number]", "data-number"))
        assert second.pk not in before and second != first
        assert posts.by_report() == {str(first.client_uuid): [201], str(second.client_uuid): [201]}
        _online_again(page)  # and the reopened page's next pass
        context.close()
    assert posts.by_report() == {str(first.client_uuid): [201], str(second.client_uuid): [201]}
    assert Case.objects.exclude(pk__in=before).count() == 2


def test_without_gps_or_tiles_the_inspector_taps_inside_the_communities_drawn(live_server, people, offline_tiles):
    """No tile server and no GPS (refused): the communities the inspector may report in are drawn and the map opens
    on them, so that a tap places the report in its cell."""
    lon, lat = point_in(people["a"])
    with browser() as b:
        context = b.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True,
                                has_touch=True, service_workers="block", timezone_id="Asia/Shanghai")
        page = context.new_page()
        login(page, live_server.url, "insp", PASSWORD)
        page.wait_for_function("""() => { let n = 0;
            window.cityGridMap.eachLayer(l => { if (l.feature) n++; }); return n > 0; }""")
        # where the point is on the map as shown (the tiles' datum), tapped with a finger
        x, y = page.evaluate("""([lon, lat]) => {
            const cfg = JSON.parse(document.getElementById("page-config").textContent);
            const shown = window.CityGridDatum(cfg.tileDatum).toDisplay(lon, lat);
            if (!window.cityGridMap.getBounds().contains(shown)) return [null, null];
            const p = window.cityGridMap.latLngToContainerPoint(shown);
            const box = document.getElementById("map").getBoundingClientRect();
            return [box.left + p.x, box.top + p.y]; }""", [lon, lat])
        assert x is not None, "the map does not open on the inspector's communities"
        page.touchscreen.tap(x, y)
        page.wait_for_selector("#where[data-cell]")
        assert page.get_attribute("#where", "data-cell").startswith(people["a"].code)
        # the outlines come through every page of the list (a scope with more communities than one page holds)
        whole, paged = page.evaluate("""async () => {
            const cfg = JSON.parse(document.getElementById("page-config").textContent);
            const datum = window.CityGridDatum(cfg.tileDatum), url = cfg.apiAreas + "?level=community&zoom=14";
            const one = await window.CityGrid.features(url + "&page_size=2000", datum);
            const byOne = await window.CityGrid.features(url + "&page_size=1", datum);
            const codes = fc => fc.features.map(f => f.properties.code).sort();
            return [codes(one), codes(byOne)]; }""")
        assert len(whole) >= 2 and paged == whole
        context.close()


def test_the_inspector_page_opens_without_network(live_server, people, offline_tiles):
    lon, lat = point_in(people["a"])
    with browser() as b:
        context, page = _phone(b, lon, lat, service_workers="allow")
        login(page, live_server.url, "insp", PASSWORD)
        page.wait_for_selector("#where[data-cell]")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload()  # through the service worker now, which keeps the page
        page.wait_for_selector("#category-list [data-code]")
        b.allow(".", failure="ERR_INTERNET_DISCONNECTED")  # what the service worker does not keep
        context.set_offline(True)
        again = context.new_page()
        again.goto(live_server.url + "/inspector/")  # no network: the kept page, its scripts and the catalogue
        again.wait_for_selector("#net.offline")
        again.wait_for_selector("#category-list [data-code]")
        context.close()


def test_dispatcher_sees_a_report_live_dispatches_it_and_is_told_of_emergencies(live_server, people, offline_tiles):
    from incidents import intake

    lon, lat = point_in(people["a"])
    with browser() as b:
        page = b.new_page(viewport={"width": 1600, "height": 900})
        login(page, live_server.url, "disp_city", PASSWORD)
        assert page.url.endswith("/console/")
        page.wait_for_selector("#live.on")
        # The live light through the streams' planned renewals (every FEED_STREAM_SECONDS, 4 s here): never off.
        started = time.monotonic()
        page.evaluate("""() => { window.liveStates = [];
            new MutationObserver(() => window.liveStates.push(document.getElementById('live').className))
                .observe(document.getElementById('live'), { attributes: true }); }""")
        case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="hotline_12345",
                                           description="占道停车")).case
        row = f"#list li[data-number='{case.number}']"
        page.wait_for_selector(row, timeout=15000)  # appeared without a reload
        page.click(row)
        page.wait_for_selector(f"#panel[data-number='{case.number}'] [data-action='register']")
        # 不予立案 without a reason: the message beside the reason, which takes the cursor
        b.allow(rf"/api/cases/{case.number}/reject/$", status=400)
        page.click("#act-reason [data-action='reject']")
        page.wait_for_selector("#act-reason .field-error")
        assert page.evaluate("document.activeElement.name") == "reason"
        assert page.locator("#panel .conflict").count() == 0
        page.click("[data-action='register']")
        page.wait_for_selector("#panel [data-action='dispatch']")
        assert page.locator("#act [name=into]").count() == 0  # the merge is not beside 派遣 ...
        assert not page.locator("#act-merge [name=into]").is_visible()  # ... but folded away in its own form
        page.select_option("#act select[name=bureau]", people["cg"].code)
        page.fill("#act input[name=note]", "就近处置")
        page.click("[data-action='dispatch']")
        page.wait_for_function("() => !document.querySelector('#panel [data-action=\"dispatch\"]')")
        case.refresh_from_db()
        assert case.status == "dispatched" and case.bureau == people["cg"]

        # A stale panel: someone else changed the case; the 409 is said plainly and the panel refreshed.
        other = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="hotline_12345")).case
        page.wait_for_selector(f"#list li[data-number='{other.number}']", timeout=15000)
        reported = other.log.get(action="report").pk  # once the feed has delivered it, the panel stays put
        page.wait_for_function(f"() => Number(document.body.dataset.lastEvent) >= {reported}", timeout=15000)
        page.click(f"#list li[data-number='{other.number}']")
        page.wait_for_selector(f"#panel[data-number='{other.number}'] [data-action='register']")
        b.allow(rf"/api/cases/{other.number}/register/$", status=409)  # the conflict this step provokes
        page.evaluate("document.getElementById('panel').dataset.version = '0'")  # as if loaded before a change
        page.locator("#panel [data-action='register']").click()
        page.wait_for_selector("#panel .conflict")

        unit = ResponseUnit.objects.create(code="CG-01", name="城管巡逻一组", bureau=people["cg"],
                                           position=Point(lon + 0.002, lat, srid=4326), position_at=timezone.now())
        emergency = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0405", urgency="emergency",
                                                source="hotline_12345", description="路段积水过膝")).case
        page.wait_for_selector(f"#banner[data-number='{emergency.number}']:not([hidden])", timeout=15000)
        page.click(f"#banner [data-open='{emergency.number}']")  # the banner opens the case ...
        page.wait_for_selector(f"#units [data-send='{unit.code}']")  # ... with the nearest available units
        page.wait_for_selector(f"#list li[data-number='{emergency.number}']")
        page.screenshot(path=str(screenshot_dir() / "console.png"))
        page.click(f"#units [data-send='{unit.code}']")  # one click sends it
        page.wait_for_function("() => !document.querySelector(\"#units [data-send='CG-01']\")")
        assert UnitAssignment.objects.filter(case=emergency, unit=unit).exists()
        page.wait_for_timeout(max(0, 9000 - 1000 * (time.monotonic() - started)))  # two renewals at least
        assert "live off" not in page.evaluate("window.liveStates")
        assert page.get_attribute("#live", "class") == "live on"


def test_leader_sees_heatmap_and_choropleth_with_data(live_server, people, offline_tiles):
    import importlib

    from django.apps import apps

    from dispatch.history import generate_history

    for module in ("0002_calendar_data", "0007_stage_limits"):  # data the transactional flush removed
        importlib.import_module(f"dispatch.migrations.{module}").load(apps, None)
    generate_history(400, timezone.now() - timedelta(days=20), 15 * 86400, "HX", skew=2.0)
    with browser() as b:
        page = b.new_page(viewport={"width": 1600, "height": 900})
        login(page, live_server.url, "lead", PASSWORD)
        assert page.url.endswith("/dashboard/")
        page.wait_for_selector("#map[data-mode='heat'][data-ready='1']")
        page.wait_for_function("() => Number(document.getElementById('map').dataset.points) > 0")
        page.wait_for_selector("#kpis[data-ready='1']")
        assert page.inner_text("#k-reported").replace(",", "") == "400"
        page.wait_for_selector("#ranking tbody tr")
        page.screenshot(path=str(screenshot_dir() / "dashboard-heatmap.png"))
        page.check("input[name=mode][value=choropleth]")
        page.wait_for_selector("#map[data-mode='choropleth'][data-ready='1']")
        page.wait_for_function("() => Number(document.getElementById('map').dataset.features) > 0")
        page.screenshot(path=str(screenshot_dir() / "dashboard-choropleth.png"))
        legend, overdue = page.inner_text("#legend"), page.inner_text("#overdue")
        assert not re.search("[A-Za-z]", legend), legend  # Chinese throughout, no bureau codes either
        assert not re.search("[A-Za-z]|\\d{6}-", overdue), overdue

        # The CSV files hold the tables' rows and values, as the server counted them (the page writes them).
        start, end = (date.fromisoformat(page.input_value(f"#period input[name={k}]")) for k in ("start", "end"))
        assert _csv(page, "ranking") == [RANKING_HEADER, *_ranking_rows("bureau", start, end)]
        overdue = _csv(page, "overdue")
        assert overdue == [["bureau", "overdue"], *_overdue_rows()] and len(overdue) > 2
        # Every row of the ranking, not only the twenty on the screen (cells: a hundred and more here).
        page.select_option("#dimension", "cell")
        page.wait_for_function("() => /^\\d{15}$/.test(document.querySelector('#ranking tbody td:nth-child(2)')"
                               "?.textContent || '')")
        cells = _ranking_rows("cell", start, end)
        assert 20 < len(cells) <= 200 and page.locator("#ranking tbody tr").count() == 20
        assert _csv(page, "ranking") == [RANKING_HEADER, *cells]


RANKING_HEADER = ["rank", "code", "name", "score", "due", "closed", "closure_rate", "on_time_closure_rate"]


def _csv(page, table: str) -> list[list[str]]:
    with page.expect_download() as download:
        page.click(f"[data-csv='{table}']")
    with open(download.value.path(), encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def _fixed(value: float, places: int = 1) -> str:
    # As JavaScript's toFixed: the float's exact value, a tie rounded up (Python's format rounds it to even).
    return str(Decimal(value).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))


def _percent(rate: float | None) -> str:
    return "–" if rate is None else _fixed(rate * 100, 2) + "%"


def _ranking_rows(dimension: str, start: date, end: date) -> list[list[str]]:
    """The evaluation ranking as the server computes it for the dashboard's period, as CSV rows."""
    from datetime import datetime, time

    from dispatch.evaluation import evaluate

    zone = timezone.get_current_timezone()
    figures = evaluate(dimension, datetime.combine(start, time.min, zone), datetime.combine(end, time.min, zone))
    assert figures, "nothing to rank"
    # units with too few cases due follow the ranked ones without a rank (dispatch.evaluation)
    return [[str(i) if f.ranked else "–", f.code, f.name or f.code, "" if f.score is None else _fixed(f.score),
             str(f.due), str(f.closed), _percent(f.rates["closure_rate"]), _percent(f.rates["on_time_closure_rate"])]
            for i, f in enumerate(figures[:200], start=1)]


def _overdue_rows() -> list[list[str]]:
    """Cases past their deadline now and not yet processed (with the bureau: dispatched, in progress or
    postponed), per bureau (by name), most first."""
    from django.db.models import Count

    rows = (Case.objects.filter(status__in=("dispatched", "in_progress", "postponed"), deadline__lt=timezone.now(),
                                bureau__isnull=False)
            .values("bureau__code", "bureau__name").annotate(n=Count("id")).order_by("-n", "bureau__code"))
    return [[r["bureau__name"], str(r["n"])] for r in rows]
