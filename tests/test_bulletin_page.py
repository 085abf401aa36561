"""The bulletin in a real browser (Debian's chromium through Playwright) against the live server: a leader finds
last month's issued bulletin on the dashboard, opens the bulletin page, downloads its PDF; a district's
dispatcher sees his district's only. Screenshots (and the PDF's first page) go where tests.browser says."""

import shutil
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from citygrid import roles
from dispatch.bulletin import issue, month_of
from dispatch.history import generate_history
from tests.browser import browser, login, screenshot_dir
from tests.conftest import make_user
from tests.test_faces import PASSWORD, offline_tiles  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_leader_finds_last_months_bulletin_and_prints_it(live_server, people, offline_tiles, tmp_path):  # noqa: F811
    last_month = month_of(timezone.localdate().replace(day=1) - timedelta(days=1))
    generate_history(600, timezone.now() - timedelta(days=50), 45 * 86400, "BP", skew=2.0)
    issued = issue(last_month, None)
    issue(last_month, people["west"].pk)
    with browser() as b:
        page = b.new_page(viewport={"width": 1600, "height": 900})
        login(page, live_server.url, "lead", PASSWORD)
        page.wait_for_selector("#kpis[data-ready='1']")
        page.wait_for_selector("#bulletins[data-ready='1']")
        links = page.locator(f"#bulletins a[data-bulletin='{issued.pk}']")
        assert links.count() == 3  # PDF, XLSX, CSV of the city's
        assert page.inner_text("#k-due").replace(",", "").isdigit() and "%" in page.inner_text("#k-ontime")
        page.locator("#bulletins").scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot_dir() / "dashboard-bulletins.png"))
        with page.expect_download() as download:
            links.first.click()
        with open(download.value.path(), "rb") as f:
            assert f.read(4) == b"%PDF"

        page.click("#bulletin-link")
        page.wait_for_selector("#bulletin")
        assert page.get_attribute("#bulletin", "data-start") == last_month.start.isoformat()
        assert "按期结案率" in page.inner_text("#bulletin") and page.locator("#bulletin svg circle").count() > 0
        page.screenshot(path=str(screenshot_dir() / "bulletin.png"), full_page=True)
        with page.expect_download() as download:
            page.click("#export-pdf")
        pdf = tmp_path / "bulletin.pdf"
        download.value.save_as(pdf)
        assert pdf.read_bytes()[:4] == b"%PDF"
        if shutil.which("pdftoppm"):  # its first page, as a person would see it printed
            subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                            str(screenshot_dir() / "bulletin-pdf")], check=True)
        page.select_option("select[name=district]", "430302")
        page.click("#bulletin-form button[type=submit]")
        page.wait_for_selector("#bulletin[data-scope='430302']")

        make_user("disp_west", roles.DISPATCHER, district=people["west"])
        page = b.new_page(viewport={"width": 1280, "height": 900})
        login(page, live_server.url, "disp_west", PASSWORD)
        page.goto(f"{live_server.url}/dashboard/")
        page.wait_for_selector("#bulletins[data-ready='1']")
        assert page.locator("#bulletins a").count() == 3  # his district's bulletin, not the city's
        page.goto(f"{live_server.url}/bulletin/")
        page.wait_for_selector("#bulletin[data-scope='430302']")
        assert page.locator("select[name=district]").count() == 0
