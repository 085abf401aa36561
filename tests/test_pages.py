import copy

import pytest

from citygrid import roles
from grids.models import Cell
from tests.browser import browser, login, screenshot_dir
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_login_required(client):
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_pages_are_chinese_first_and_switch_to_english(client, dispatcher):
    client.force_login(dispatcher)
    page = client.get("/map/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert "城市网格" in page and "指挥调度台" in page  # the navigation too
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = client.get("/map/").content.decode()
    assert "City grid" in page and "Command console" in page


def test_grid_map_draws_the_grid_and_locates_a_click(live_server, gridded, settings):
    settings.TILE_URL = "http://127.0.0.1:9/{z}/{x}/{y}.png"  # no tile server: the grid must still draw
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["img-src"] = [*policy["DIRECTIVES"]["img-src"], "http://127.0.0.1:9"]
    settings.CONTENT_SECURITY_POLICY = policy  # as the settings module derives it from TILE_URL
    make_user("viewer", roles.DISPATCHER)
    cell = Cell.objects.filter(community=gridded["a"]).order_by("code")[30]
    p = cell.geom.point_on_surface
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 800})
        login(page, live_server.url, "viewer", "Correct-horse-42")
        page.goto(live_server.url + "/map/")
        page.wait_for_selector("#map[data-ready='1']")
        labels = page.evaluate("(() => { const out = []; cityGridMap.eachLayer(l => { if (l.getTooltip && "
                               "l.getTooltip()) out.push(l.getTooltip().getContent()); }); return out; })()")
        assert "雨湖区" in labels and not [x for x in labels if "undefined" in x]  # the hover label is the name
        page.evaluate(f"cityGridMap.setView([{p.y}, {p.x}], 17)")
        page.wait_for_function("cityGridMap.getZoom() === 17")
        point = page.evaluate(f"(() => {{ const c = cityGridMap.latLngToContainerPoint([{p.y}, {p.x}]); "
                              "return [c.x, c.y]; })()")
        box = page.locator("#map").bounding_box()
        page.mouse.click(box["x"] + point[0], box["y"] + point[1])
        page.wait_for_selector(f"#located[data-cell='{cell.code}']")
        text = page.inner_text("#located")
        assert "和平社区" in text and "城正街街道" in text and "雨湖区" in text
        page.screenshot(path=str(screenshot_dir() / "grid-map.png"))
