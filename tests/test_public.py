"""The public's own endpoints, without an account: reporting from the web page through the same intake as
Open311 (rate-limited per address, uploads checked as every upload), the catalogue, locating a point; and
Open311 service discovery as the GeoReport v2 specification describes it."""

import io
import re
import uuid
from xml.etree import ElementTree as ET

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from citygrid.models import AuditEvent
from incidents.models import Case, Photo
from incidents.tracking import code_matches
from tests.conftest import jpeg, point_in


def _gps_jpeg() -> bytes:
    """A photo with an EXIF GPS position (the citizen's home, perhaps): it must not be kept."""
    from PIL import Image

    img = Image.new("RGB", (64, 48), (10, 200, 30))
    exif = img.getexif()
    exif[0x8825] = {1: "N", 2: (27.0, 52.0, 30.0), 3: "E", 4: (112.0, 53.0, 10.0)}
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


def _form(people, **kw) -> dict:
    lon, lat = point_in(people["a"])
    return {"client_uuid": str(uuid.uuid4()), "lon": lon, "lat": lat, "category": "SJ0102",
            "description": "小区门口垃圾堆积", "address": "和平路口", "contact_name": "李女士",
            "contact_phone": "13800000000"} | kw


def test_a_citizen_reports_without_an_account(client, people):
    data = _form(people, photos=SimpleUploadedFile("a.jpg", _gps_jpeg(), "image/jpeg"))
    response = client.post(reverse("public:report"), data)
    assert response.status_code == 201, response.content
    body = response.json()
    case = Case.objects.get(number=body["number"])
    assert code_matches(case.number, body["code"]) and body["created"]
    assert (case.source, case.reporter, case.contact_phone, case.urgency) == ("web", None, "13800000000", "normal")
    assert case.cell.community == people["a"]
    photo = Photo.objects.get(case=case)
    assert photo.taken_location is None and photo.taken_at is None  # the public's metadata is dropped
    assert AuditEvent.objects.filter(action="case_report", target=f"case: {case.number}").exists()
    again = client.post(reverse("public:report"), {**data, "photos": SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg")})
    assert again.status_code == 200 and again.json()["number"] == case.number  # a retry: the same case
    assert again.json()["code"] == body["code"]
    assert Case.objects.count() == 1


def test_a_public_report_is_checked_like_any_other(client, people):
    url = reverse("public:report")
    bad_photo = client.post(url, _form(people, photos=SimpleUploadedFile("a.jpg", b"not an image", "image/jpeg")))
    assert bad_photo.status_code == 400 and "photos" in bad_photo.json()
    too_many = client.post(url, _form(people, photos=[SimpleUploadedFile(f"{i}.jpg", jpeg(), "image/jpeg")
                                                      for i in range(7)]))
    assert too_many.status_code == 400
    outside = client.post(url, _form(people, lon=116.4, lat=39.9))
    assert outside.status_code == 400 and "location" in outside.json()
    assert list(client.post(url, _form(people, category="")).json()) == ["category"]
    assert client.post(url, _form(people, lon="east")).status_code == 400
    assert client.post(url, _form(people, client_uuid="nope")).status_code == 400
    assert client.post(url, _form(people, description="x" * 2001)).status_code == 400
    assert client.post(url, _form(people, contact_phone="1" * 31)).status_code == 400
    assert client.get(url).status_code == 405
    assert Case.objects.count() == 0


def test_a_report_cannot_reach_another_channels_case_by_its_client_id(client, people):
    from incidents import intake

    lon, lat = point_in(people["a"])
    theirs = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="inspector"),
                           reporter=people["inspector"]).case
    answer = client.post(reverse("public:report"), _form(people, client_uuid=str(theirs.client_uuid)))
    assert answer.status_code == 400 and theirs.number not in answer.content.decode()


def test_public_reports_are_rate_limited_per_address(client, people, settings):
    settings.PUBLIC_REPORT_RATE = "2/h"
    url = reverse("public:report")
    codes = [client.post(url, _form(people)).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    assert client.post(url, _form(people), REMOTE_ADDR="10.1.2.3").status_code == 201  # another address
    assert AuditEvent.objects.filter(action="rate_limited", result="denied").exists()
    assert Case.objects.count() == 3


def test_the_report_form_is_protected_against_cross_site_posts(people):
    browser = Client(enforce_csrf_checks=True)
    assert browser.post(reverse("public:report"), _form(people)).status_code == 403
    page = browser.get(reverse("frontend:report"))
    token = browser.cookies["csrftoken"].value
    assert page.status_code == 200
    ok = browser.post(reverse("public:report"), _form(people), HTTP_X_CSRFTOKEN=token)
    assert ok.status_code == 201


def test_the_public_endpoints_and_pages_need_no_account(client, people):
    catalogue = client.get(reverse("public:catalogue")).json()["results"]
    assert {"code": "SJ0102", "name": "暴露垃圾", "major": "SJ01", "major_name": "市容环境"} in catalogue
    lon, lat = point_in(people["a"])
    located = client.get(reverse("public:locate"), {"lon": lon, "lat": lat}).json()
    assert located == {**located, "inside": True, "district": "雨湖区", "street": "城正街街道", "community": "和平社区"}
    assert located["outline"]["type"] == "MultiPolygon"
    assert client.get(reverse("public:locate"), {"lon": 116.4, "lat": 39.9}).json()["inside"] is False
    assert client.get(reverse("public:locate"), {"lon": "x", "lat": 1}).status_code == 400
    assert client.get(reverse("public:cases"), {"days": 365}).status_code == 400
    for name in ("frontend:report", "frontend:public-map", "frontend:track-lookup"):
        page = client.get(reverse(name))
        assert page.status_code == 200, name
        assert not re.search(r"[\"']/api/", page.content.decode())  # no staff endpoint


def test_open311_service_discovery_json_and_xml(client, people):
    body = client.get("/open311/discovery.json").json()
    assert set(body) == {"changeset", "contact", "key_service", "endpoints"}
    [endpoint] = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2" and endpoint["type"] == "production"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"} and endpoint["changeset"]
    assert client.get(endpoint["url"] + "/services.json").status_code == 200  # the URL is the real base
    xml = ET.fromstring(client.get("/open311/discovery.xml").content)
    assert xml.tag == "discovery" and xml.findtext("key_service") == body["key_service"]
    assert xml.findtext("endpoints/endpoint/url") == endpoint["url"]
    assert {f.text for f in xml.findall("endpoints/endpoint/formats/format")} == set(endpoint["formats"])
    assert client.get("/open311/discovery.yaml").status_code == 404


@pytest.mark.parametrize("name", ["public:catalogue", "public:cases"])
def test_public_reads_are_rate_limited_per_address(client, people, settings, name):
    settings.PUBLIC_READ_RATE = "2/h"  # an hour: the window cannot roll over during the test
    assert [client.get(reverse(name)).status_code for _ in range(3)] == [200, 200, 429]
