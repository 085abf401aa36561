"""The gazetteer on the pages, in a real browser against the live server: the operator at the hotline desk types an
address as the caller says it and picks the door number by keyboard — the call's point is the door's and its address
is filled in —; a citizen on the report page finds a landmark and the pin goes there. Every page fails the test on
an uncaught error, a CSP violation or a failed request (tests/browser.py; tiles aside)."""

import copy

import pytest

from gazetteer import search
from gazetteer.importing import import_addresses
from gazetteer.models import Address
from incidents.models import Case
from tests.browser import browser, login, screenshot_dir
from tests.test_gazetteer import _doors, _geojson

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "Correct-horse-42"
TILES = "http://127.0.0.1:9/"


@pytest.fixture
def city(people, settings, tmp_path):
    settings.TILE_URL = TILES + "{z}/{x}/{y}.png"  # no tile server: the pages must work without one
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["img-src"] = [*policy["DIRECTIVES"]["img-src"], TILES.rstrip("/")]
    settings.CONTENT_SECURITY_POLICY = policy
    search.clear_cache()
    import_addresses(_geojson(tmp_path, _doors()))
    yield people
    search.clear_cache()


def test_the_operator_finds_the_callers_address_and_the_call_is_placed_there(live_server, city):
    door = Address.objects.get(code="建设路-12")
    with browser() as b:
        context = b.new_context(viewport={"width": 1600, "height": 900})
        page = context.new_page()
        login(page, live_server.url, "oper", PASSWORD)
        assert page.url.endswith("/hotline/")
        page.wait_for_selector("#phone:focus")
        page.keyboard.type("13907319999")
        page.focus("#place")
        page.keyboard.type("湘潭市建设路十二号院")  # as said: the city, Chinese numerals, 号院
        page.wait_for_selector("#place-list li.active")
        first = page.inner_text("#place-list li.active")
        assert "建设路12号" in first and "门牌" in first  # the door number, tagged as one
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowUp")  # arrows move, and back to the first
        screenshot = screenshot_dir() / "hotline-gazetteer.png"
        page.screenshot(path=str(screenshot))
        page.keyboard.press("Enter")  # picks it: the point is the door's, the cell is found
        page.wait_for_selector("#where[data-cell]")
        assert page.get_attribute("#where", "data-cell").startswith(city["street"].code)
        assert page.input_value("#address") == "建设路12号"
        page.focus("#category-search")
        page.keyboard.type("SJ0102")
        page.wait_for_selector("#category-list li.active")
        page.keyboard.press("Enter")
        page.focus("#description")
        page.keyboard.type("门口垃圾堆了三天")
        page.keyboard.press("Control+Enter")
        page.wait_for_selector("#call-result .ok")
        case = Case.objects.get(number=page.get_attribute("#call-result [data-number]", "data-number"))
        assert case.address == "建设路12号" and case.source == "hotline_12345"
        assert case.location.distance(door.geom) < 1e-6  # where the door is (7 decimals sent)
        context.close()


def test_a_citizen_finds_a_landmark_and_the_pin_goes_there(live_server, city):
    park = Address.objects.get(code="POI-2")
    with browser() as b:
        context = b.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True,
                                has_touch=True, service_workers="block")  # no position from the phone
        page = context.new_page()
        page.goto(live_server.url + "/report/")
        page.fill("#addr-q", "雨湖工园")  # a slip of the thumb
        page.wait_for_selector("#addr-list li.active")
        assert page.inner_text("#addr-list li.active") == "雨湖公园"
        page.keyboard.press("Enter")
        page.wait_for_selector("#where[data-inside='1']")
        assert "城正街街道" in page.inner_text("#where")
        assert page.input_value("input[name=address]") == "雨湖公园"
        pin = page.evaluate("(function(){var m; window.cityGridMap.eachLayer(function(l){ if (l.getLatLng && "
                            "l.options.draggable) m = l.getLatLng(); }); return [m.lng, m.lat];})()")
        assert abs(pin[0] - park.geom.x) < 1e-6 and abs(pin[1] - park.geom.y) < 1e-6
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.screenshot(path=str(screenshot_dir() / "report-gazetteer.png"))
        context.close()
