"""The census on the pages, in a real browser (issue 15): the inspector picks the component his report is about
from the nearest of its subclass, or says it is not on the map; the census layer draws on his map."""

import pytest
from django.contrib.gis.geos import Point

from assets import census, codes
from assets.models import CensusChange, Component
from incidents.models import Case
from tests.browser import browser, login, screenshot_dir
from tests.conftest import point_in
from tests.test_faces import PASSWORD, _choose, _phone, _photo_file
from tests.test_faces import offline_tiles as offline_tiles  # the fixture

pytestmark = pytest.mark.django_db(transaction=True)
METRE = 1 / 111_320


def _hydrants(people, lon, lat) -> list[Component]:
    made = []
    for seq, north in ((1, 4), (2, 9), (3, 300)):
        c = Component(code=codes.make_code("430302", "BJ0108", seq), subclass="BJ0108", name=f"消防栓{seq}号",
                      geom=Point(lon, lat + north * METRE, srid=4326), bureau=people["cg"])
        census.save_component(c, None)
        made.append(c)
    return made


def test_the_inspector_picks_the_component_of_his_report(live_server, people, offline_tiles, tmp_path):
    lon, lat = point_in(people["a"])
    near, second, _far = _hydrants(people, lon, lat)
    with browser() as b:
        context, page = _phone(b, lon, lat)
        login(page, live_server.url, "insp", PASSWORD)
        page.wait_for_selector("#where[data-cell]")
        # The census layer draws the components around him (at the page's zoom 18).
        page.wait_for_function("() => window.cityGridCensus && window.cityGridCensus.layer.getLayers().length === 2")
        _choose(page, "消防栓", "BJ0108")
        page.wait_for_selector("#component-pick:not([hidden]) [data-component]")
        offered = page.eval_on_selector_all("#component-list [data-component]",
                                            "bs => bs.map(b => b.dataset.component)")
        assert offered == [near.code, second.code]  # nearest first; the one 300 m away is not offered
        assert "消防栓1号" in page.inner_text("#component-list") and "不在图上" in page.inner_text("#component-list")
        page.click(f"#component-list [data-component='{second.code}']")
        page.wait_for_selector(f"#component-list [data-component='{second.code}'].chosen")
        page.fill("textarea[name=description]", "消防栓漏水")
        page.set_input_files("#photo", str(_photo_file(tmp_path)))
        page.wait_for_selector("#preview:not([hidden])")
        page.screenshot(path=str(screenshot_dir() / "inspector-component.png"))
        page.click("#submit")
        page.wait_for_selector("#result [data-number]")
        number = page.get_attribute("#result [data-number]", "data-number")
        # A second report: the hydrant he stands at is not on the map.
        page.wait_for_selector("#preview[hidden]", state="attached")
        _choose(page, "消防栓", "BJ0108")
        page.click("#component-list [data-census='new']")
        page.set_input_files("#photo", str(_photo_file(tmp_path)))
        page.wait_for_selector("#preview:not([hidden])")
        page.click("#submit")
        page.wait_for_function(f"() => document.querySelector('#result [data-number]') && "
                               f"document.querySelector('#result [data-number]').dataset.number !== '{number}'")
        other = page.get_attribute("#result [data-number]", "data-number")
        context.close()
    assert Case.objects.get(number=number).component == second
    assert Case.objects.get(number=other).component is None
    change = CensusChange.objects.get()
    assert change.kind == "new" and change.case_number == other and change.state == "pending"


def _click_at(page, lon: float, lat: float) -> None:
    """A real mouse click on the map where (lon, lat) is drawn (no tile datum shift in the tests)."""
    x, y = page.evaluate("([lat, lon]) => { const p = window.cityGridMap.latLngToContainerPoint([lat, lon]);"
                         " return [p.x, p.y]; }", [lat, lon])
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)


def test_the_console_finds_the_valves_to_close_and_what_is_under_a_place(live_server, people, offline_tiles):
    from assets.models import PipePoint
    from incidents import intake
    from tests.test_pipes import M, water

    net = water.__wrapped__(people)  # the same small network the API tests use
    assert net.segments.count() == 8
    lon, lat = point_in(people["a"])
    # A hydrant on the network at J3, in the census, and a case about it.
    j3 = PipePoint.objects.get(code="J3")
    hydrant = Component(code=codes.make_code("430302", "BJ0108", 1), subclass="BJ0108", name="消防栓",
                        geom=j3.geom, bureau=people["cg"])
    census.save_component(hydrant, None)
    j3.component = hydrant
    j3.save()
    case = intake.submit(intake.Report(lon=j3.geom.x, lat=j3.geom.y, category="BJ0108", source="hotline_12345",
                                       description="消防栓爆裂漏水", component=hydrant.code)).case
    # A burst main reported at a place, no component: 8 m south of the pipe W-s3 (its marker clear of the clicks).
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.conftest import jpeg

    burst = intake.submit(intake.Report(lon=lon + 45 * M, lat=lat - 8 * M, category="SJ0402", source="hotline_12345",
                                        urgency="urgent",  # (an emergency banner would move the map)
                                        description="路面冒水", photos=[SimpleUploadedFile("b.jpg", jpeg(),
                                                                                           "image/jpeg")])).case
    with browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 900}, timezone_id="Asia/Shanghai")
        login(page, live_server.url, "disp_city", PASSWORD)
        assert page.url.endswith("/console/")
        page.wait_for_function("() => document.querySelectorAll('#f-area option').length > 1")  # fitted to the city
        page.evaluate("([lat, lon]) => window.cityGridMap.setView([lat, lon], 19, {animate: false})",
                      [lat, lon + 50 * M])
        page.wait_for_function("() => window.cityGridPipesLoaded >= 8")
        page.click("[data-pipe-tool='isolate']")
        _click_at(page, lon + 50 * M, lat)  # on the burst segment W-s3, between J2 and J3
        page.wait_for_selector("#valve-count")
        assert page.inner_text("#valve-count") == "3" and page.inner_text("#customers") == "48"
        valves = page.eval_on_selector_all("[data-valve]", "vs => vs.map(v => v.dataset.valve)")
        assert valves == ["V1", "V2", "V3"]
        page.screenshot(path=str(screenshot_dir() / "console-valves.png"))
        page.click("[data-pipe-tool='under']")
        _click_at(page, lon + 50 * M, lat + 2 * M)
        page.wait_for_selector("#pipe-result [data-segment]")
        under = page.eval_on_selector_all("#pipe-result [data-segment]", "s => s.map(x => x.dataset.segment)")
        assert under == ["W-s3"]
        # The case about the hydrant shows, in its panel, the valves a burst there closes.
        page.click(f"#list li[data-number='{case.number}']")
        page.wait_for_selector(".case-valves [data-valve]")
        assert page.eval_on_selector_all(".case-valves [data-valve]", "vs => vs.map(v => v.dataset.valve)") == [
            "V1", "V2", "V3"]
        assert "48" in page.inner_text(".case-valves")
        # The burst main reported at a place: the nearest water pipe in use, and the valves that isolate it.
        page.click(f"#list li[data-number='{burst.number}']")
        page.wait_for_selector(".case-pipe[data-segment='W-s3']")
        assert page.eval_on_selector_all(".case-valves [data-valve]", "vs => vs.map(v => v.dataset.valve)") == [
            "V1", "V2", "V3"]
        assert "城区给水管网" in page.inner_text(".case-pipe")
        page.screenshot(path=str(screenshot_dir() / "console-burst-case.png"))
        assert "球墨铸铁" in page.inner_text("#pipe-result") and "湘潭自来水公司" in page.inner_text("#pipe-result")
        # Along a planned dig, drawn click by click and finished with a double-click: every pipe within 5 m of it.
        page.click("[data-pipe-tool='line']")
        _click_at(page, lon + 28 * M, lat + 2 * M)
        x, y = page.evaluate("([lat, lon]) => { const p = window.cityGridMap.latLngToContainerPoint([lat, lon]);"
                             " return [p.x, p.y]; }", [lat + 2 * M, lon + 52 * M])
        box = page.locator("#map").bounding_box()
        page.mouse.dblclick(box["x"] + x, box["y"] + y)
        page.wait_for_selector("#pipe-result [data-segment='W-s6']")
        along = page.eval_on_selector_all("#pipe-result [data-segment]", "s => s.map(x => x.dataset.segment)")
        assert sorted(along) == ["W-s2", "W-s3", "W-s6"]  # along the main, and the branch it crosses
        assert page.evaluate("window.cityGridMap.getZoom()") == 19  # the double-click ended the line, no zoom


def test_the_grid_map_shows_the_census_from_a_readable_zoom(live_server, people, offline_tiles):
    lon, lat = point_in(people["a"])
    _hydrants(people, lon, lat)
    with browser() as b:
        page = b.new_page(viewport={"width": 1200, "height": 800})
        login(page, live_server.url, "lead", PASSWORD)
        page.goto(live_server.url + "/map/")
        page.wait_for_function("() => window.cityGridCensus !== undefined")
        page.evaluate("([lat, lon]) => window.cityGridMap.setView([lat, lon], 14, {animate: false})", [lat, lon])
        page.wait_for_timeout(500)
        assert page.evaluate("() => window.cityGridCensus.count()") == 0  # too far out to read
        page.evaluate("([lat, lon]) => window.cityGridMap.setView([lat, lon], 18, {animate: false})", [lat, lon])
        page.wait_for_function("() => window.cityGridCensus.count() === 2")  # drawn from the vector tiles
        # The cells too, from theirs (at least the two around the hydrants).
        page.wait_for_function("() => Object.keys(CityGrid.tiles.features(window.cityGridCells)).length >= 2")
        _click_at(page, lon, lat + 4 * METRE)
        page.wait_for_selector(".component-popup[data-loaded]")  # the names from the component's detail
        assert "消防栓1号" in page.inner_text(".component-popup") and "完好" in page.inner_text(".component-popup")
        # the layers named as the page reads, the census among them: a dense census can be switched off
        names = page.eval_on_selector_all(".leaflet-control-layers-overlays label",
                                          "labels => labels.map(s => s.textContent.trim())")
        assert names == ["区县", "街道", "社区", "网格", "部件"]
        page.hover(".leaflet-control-layers")
        page.click(".leaflet-control-layers-overlays label:has-text('部件') input")
        assert not page.evaluate("() => window.cityGridMap.hasLayer(window.cityGridCensus.layer)")
