"""The open map services' HTML pages (/ogc/, pygeoapi's) in a real browser against the live server, as someone from
another department first looks at them before adding the URL to QGIS: in Chinese (English when chosen), the maps
drawn by the project's own Leaflet from the page's JSON, the page-size menu working — and no uncaught error, CSP
violation or failed request on any of them (tests/browser.py; the unreachable tile server aside)."""

import copy

import pytest

from tests.browser import browser, screenshot_dir

pytestmark = pytest.mark.django_db(transaction=True)
TILES = "http://127.0.0.1:9/"


@pytest.fixture
def grid(gridded, settings):
    from ogc import config, service

    settings.TILE_URL = TILES + "{z}/{x}/{y}.png"  # no tile server here: the features draw on a plain background
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["img-src"] = [*policy["DIRECTIVES"]["img-src"], TILES.rstrip("/")]
    settings.CONTENT_SECURITY_POLICY = policy
    for cached in (config.build, service.api_for, service.openapi_document):
        cached.cache_clear()
    yield gridded
    for cached in (config.build, service.api_for, service.openapi_document):
        cached.cache_clear()


def test_the_pages_speak_chinese_draw_their_maps_and_page_through_items(live_server, grid):
    base = live_server.url + "/ogc"
    with browser() as b:
        page = b.new_context(viewport={"width": 1400, "height": 900}, locale="en-US").new_page()
        page.goto(base + "/?f=html")  # an English-language browser: still the product's language
        assert page.locator("html").get_attribute("lang") == "zh"
        assert "查看本服务的数据集" in page.inner_text("main")
        page.click("text=数据集 >> nth=0")
        page.wait_for_selector("text=本服务的数据集")
        page.goto(base + "/collections/districts?f=html")
        page.wait_for_selector("#collection-map .leaflet-interactive")  # the collection's extent
        assert "浏览要素" in page.inner_text("main")

        page.goto(base + "/collections/cells/items?f=html&limit=10")
        page.wait_for_selector("#items-map .leaflet-interactive")
        assert page.locator("#items-map path.leaflet-interactive").count() == 10  # the page's ten cells
        assert page.locator("main table tbody tr").count() == 10
        headings = page.locator("main table thead th").all_inner_texts()
        assert headings[0] == "编号" and "街道编码" in headings and "street_code" not in headings  # names for people
        assert page.input_value("#limits") == "10"
        assert "每页" in page.inner_text("main") and "下一页" in page.inner_text("main")
        page.screenshot(path=str(screenshot_dir() / "ogc-cells.png"))
        with page.expect_navigation():
            page.select_option("#limits", "100")
        assert "limit=100" in page.url
        page.wait_for_selector("#items-map .leaflet-interactive")
        assert page.locator("main table tbody tr").count() == 100

        page.locator("#items-map path.leaflet-interactive").first.click()  # its popup links the item's page
        page.wait_for_selector(".leaflet-popup-content a")
        with page.expect_navigation():
            page.click(".leaflet-popup-content a")
        assert "/collections/cells/items/" in page.url
        page.wait_for_selector("#items-map .leaflet-interactive")
        assert "属性" in page.inner_text("main") and "社区编码" in page.inner_text("main")

        english = b.new_context(locale="zh-CN")
        english.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
        page = english.new_page()
        page.goto(base + "/?f=html")  # the language a person chose wins over the browser's
        assert page.locator("html").get_attribute("lang") == "en"
        assert "View the collections in this service" in page.inner_text("main")

