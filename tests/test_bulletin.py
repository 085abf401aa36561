"""The monthly bulletin (月度通报): figures for a scope, a PDF that prints Chinese, tables as CSV and XLSX, issued by
the scheduler on the first working day of the month and kept, served only through a permission-checked view and
only in the reader's scope."""

import io
import shutil
import subprocess
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.urls import reverse

from citygrid import roles
from dispatch.bulletin import Period, figures, issue, issue_due, render_pdf
from dispatch.history import generate_history
from dispatch.models import Bulletin
from grids.models import Bureau
from tests.conftest import api_client, make_user

TZ = ZoneInfo("Asia/Shanghai")
SEPTEMBER = Period(date(2026, 9, 1), date(2026, 10, 1))


@pytest.fixture
def history(people):
    """Late August to mid-September 2026 of generated history in the west district, and a bureau whose name a
    spreadsheet would take for a formula."""
    Bureau.objects.create(code="430300-X", name="=HYPERLINK(\"http://x\")", kind=Bureau.Kind.OTHER)
    generate_history(300, datetime(2026, 8, 20, tzinfo=TZ), 40 * 86400, "BT")  # to mid-Sept.
    return people


def test_figures_of_a_month_with_its_comparisons(history):
    data = figures(SEPTEMBER.start, SEPTEMBER.end, None)
    now, before = data["totals"]["current"], data["totals"]["previous"]
    assert (data["totals"]["previous"]["start"], data["totals"]["last_year"]["start"]) == ("2026-08-01", "2025-09-01")
    assert now["counts"]["reported"] > 0 and before["counts"]["reported"] > 0
    assert now["counts"]["due"] >= now["counts"]["closed"] >= now["counts"]["closed_on_time"] > 0
    assert 0 < now["rates"]["on_time_closure_rate"] < now["rates"]["closure_rate"] < 1
    assert [a["code"] for a in data["areas"]] == ["430302"] and data["areas_level"] == "district"
    assert data["bureaus"] and data["bureaus"][0]["rank"] == 1
    assert data["overdue"] and data["overdue"][0]["days_late"] >= data["overdue"][-1]["days_late"]
    assert sum(c["count"] for c in data["categories"]) <= now["counts"]["reported"]
    assert data["hot_spots"][0]["count"] >= data["hot_spots"][-1]["count"] and "<svg" in data["map_svg"]
    # The summary says the figures, nothing else.
    text = " ".join(data["summary"])
    assert f"{now['rates']['closure_rate'] * 100:.2f}%" in text and str(now["counts"]["due"]) in text


def test_the_pdf_prints_chinese_with_an_embedded_cjk_font(history, tmp_path):
    pdf = tmp_path / "bulletin.pdf"
    data = figures(SEPTEMBER.start, SEPTEMBER.end, history["west"].pk)
    from django.utils import translation

    with translation.override("zh-hans"):
        pdf.write_bytes(render_pdf(data))
    assert pdf.read_bytes().startswith(b"%PDF")
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Noto" in fonts and "CJK" in fonts
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "雨湖区" in text and "月度通报" in text and "按期结案率" in text
    assert f"{data['totals']['current']['rates']['closure_rate'] * 100:.2f}%" in text
    if shutil.which("pdftoppm"):  # the first page as a picture, to look at (docs/screenshots when asked)
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                       check=True)


def test_tables_export_as_csv_and_xlsx_with_text_never_a_formula(history):
    from openpyxl import load_workbook

    leader = api_client(history["leader"])
    period = {"start": "2026-09-01", "end": "2026-10-01"}
    response = leader.get(reverse("dispatch:bulletin"), {**period, "as": "xlsx"})
    assert response.status_code == 200 and response["Content-Disposition"].endswith('.xlsx"')
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames[:2] == ["合计", "部门"]
    names = [row[2] for row in book["部门"].iter_rows(min_row=2, values_only=True)]
    assert "'=HYPERLINK(\"http://x\")" in names and not any(str(n).startswith("=") for n in names)
    assert book["合计"]["A2"].value == "应结案数"
    csv = leader.get(reverse("dispatch:bulletin"), {**period, "as": "csv"}).content.decode("utf-8-sig")
    assert "应结案数" in csv and "'=HYPERLINK" in csv and "\n=HYPERLINK" not in csv
    assert leader.get(reverse("dispatch:bulletin"), {**period, "as": "doc"}).status_code == 400
    assert leader.get(reverse("dispatch:bulletin"), {"start": "2026-10-01", "end": "2026-09-01"}).status_code == 400
    assert leader.get(reverse("dispatch:bulletin"), {**period, "district": "999999"}).status_code == 400


def test_a_district_centre_gets_its_own_districts_bulletin_only(history):
    east = api_client(history["east_dispatcher"])
    period = {"start": "2026-09-01", "end": "2026-10-01"}
    own = east.get(reverse("dispatch:bulletin"), period).json()
    assert own["scope"]["code"] == "430304" and own["totals"]["current"]["counts"]["reported"] == 0
    assert east.get(reverse("dispatch:bulletin"), {**period, "district": "430302"}).status_code == 404
    city = api_client(history["leader"])
    assert city.get(reverse("dispatch:bulletin"), period).json()["scope"]["level"] == "city"
    west = city.get(reverse("dispatch:bulletin"), {**period, "district": "430302"}).json()
    assert west["scope"]["name"] == "雨湖区" and west["areas_level"] == "street"


def test_the_scheduler_issues_last_months_bulletins_on_the_first_working_day_and_keeps_them(history):
    # October 2026: the 1st to the 7th are the National Day holiday, the 8th the first working day.
    assert issue_due(date(2026, 10, 7)) == 0 and not Bulletin.objects.exists()
    assert issue_due(date(2026, 10, 8)) == 3  # the city, 雨湖区 and 岳塘区
    assert issue_due(date(2026, 10, 9)) == 0  # kept, not issued again
    city = Bulletin.objects.get(district__isnull=True)
    assert (city.start, city.end) == (SEPTEMBER.start, SEPTEMBER.end)
    assert city.figures["totals"]["current"]["counts"]["due"] > 0
    assert city.pdf.name.startswith("bulletins/") and city.pdf.storage.exists(city.pdf.name)
    assert str(settings.MEDIA_ROOT) in city.pdf.path  # in the media storage, never under a public URL:
    assert api_client(history["leader"]).get(settings.MEDIA_URL + city.pdf.name).status_code == 404

    west = Bulletin.objects.get(district=history["west"])
    west_dispatcher = make_user("disp_west", roles.DISPATCHER, district=history["west"])
    listed = api_client(west_dispatcher).get(reverse("dispatch:bulletins")).json()["results"]
    assert [b["id"] for b in listed] == [west.pk]
    pdf = api_client(west_dispatcher).get(reverse("dispatch:bulletin-file", args=[west.pk, "pdf"]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")
    east = api_client(history["east_dispatcher"])
    assert east.get(reverse("dispatch:bulletin-file", args=[west.pk, "pdf"])).status_code == 404
    assert east.get(reverse("dispatch:bulletin-file", args=[city.pk, "xlsx"])).status_code == 404
    leader = api_client(history["leader"])
    assert len(leader.get(reverse("dispatch:bulletins")).json()["results"]) == 3
    xlsx = leader.get(reverse("dispatch:bulletin-file", args=[city.pk, "xlsx"]))
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
    assert leader.get(reverse("dispatch:bulletin-file", args=[city.pk, "exe"])).status_code == 404


def test_issuing_again_replaces_the_pdf(history):
    first = issue(SEPTEMBER, None)
    old = first.pdf.name
    second = issue(SEPTEMBER, None)
    assert second.pk == first.pk and Bulletin.objects.count() == 1
    assert second.pdf.storage.exists(second.pdf.name)
    assert old == second.pdf.name or not second.pdf.storage.exists(old)


def test_the_page_shows_the_bulletin_and_refuses_another_district(history, client):
    client.force_login(history["leader"])
    page = client.get(reverse("frontend:bulletin"), {"start": "2026-09-01", "end": "2026-10-01"})
    body = page.content.decode()
    assert page.status_code == 200 and 'id="bulletin"' in body and "按期结案率" in body and "<svg" in body
    assert "as=pdf" in body
    assert client.get(reverse("frontend:bulletin"), {"start": "2026-09-31"}).status_code == 400
    client.force_login(history["east_dispatcher"])
    assert client.get(reverse("frontend:bulletin"), {"district": "430302"}).status_code == 404
    assert client.get(reverse("frontend:bulletin")).status_code == 200
