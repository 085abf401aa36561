import io
import uuid

import pytest
from django.urls import reverse
from PIL import Image

from incidents import lifecycle
from incidents.models import Case
from tests.conftest import api_client, jpeg, point_in


def create(client, people, **kw):
    lon, lat = point_in(people["a"])
    data = {"client_uuid": str(uuid.uuid4()), "lon": lon, "lat": lat, "category": "SJ0102",
            "description": "路边暴露垃圾", "photos": [io.BytesIO(jpeg())]} | kw
    data["photos"] = [p if hasattr(p, "name") else _named(p) for p in data["photos"]]
    return client.post(reverse("incidents:case-list"), data, format="multipart")


def _named(buf, name="p.jpg"):
    buf.name = name
    return buf


def test_inspector_reports_a_case_with_a_photo(people):
    client = api_client(people["inspector"])
    response = create(client, people)
    assert response.status_code == 201, response.json()
    summary = response.json()["properties"]
    assert summary["status"] == "reported" and summary["cell"].startswith("430302001001")
    assert summary["created"] and summary["district"] == "430302"
    props = client.get(reverse("incidents:case-detail", args=[summary["number"]])).json()["properties"]
    assert props["source"] == "inspector" and len(props["photos"]) == 1
    assert props["log"][0]["action"] == "report"
    photo = client.get(props["photos"][0]["url"])
    assert photo.status_code == 200 and photo["Content-Type"] == "image/jpeg"
    assert client.get(props["photos"][0]["thumbnail_url"]).status_code == 200


def test_a_photo_whose_file_is_missing_is_a_404_said_and_logged(people, caplog):
    client = api_client(people["inspector"])
    number = create(client, people).json()["id"]
    photo = Case.objects.get(number=number).photos.get()
    photo.thumbnail.storage.delete(photo.thumbnail.name)  # a media store not mounted, a restore without photos
    props = client.get(reverse("incidents:case-detail", args=[number])).json()["properties"]
    response = client.get(props["photos"][0]["thumbnail_url"])
    assert response.status_code == 404
    assert response.json()["detail"] == "这张照片的文件已不在媒体存储中。"  # Chinese first
    assert f"photo {photo.pk}: its file {photo.thumbnail.name} is missing" in caplog.text
    assert client.get(props["photos"][0]["url"]).status_code == 200  # the photo itself is still there


def test_a_retry_with_the_same_client_uuid_returns_the_same_case(people):
    client = api_client(people["inspector"])
    key = str(uuid.uuid4())
    first = create(client, people, client_uuid=key)
    again = create(client, people, client_uuid=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert again.json()["properties"]["cell"] == first.json()["properties"]["cell"]
    assert Case.objects.filter(client_uuid=key).count() == 1


@pytest.mark.parametrize(("changes", "field"), [
    ({"lon": ""}, "location"), ({"lon": "abc"}, "lon"), ({"lon": 116.4, "lat": 39.9}, "location"),
    ({"category": "SJ9999"}, "category"), ({"category": "SJ01"}, "category"),
    ({"description": "长" * 2001}, "description"), ({"urgency": "whenever"}, "urgency"),
    ({"photos": [_named(io.BytesIO(b"not an image at all"), "x.jpg")]}, "photos"),
    ({"photos": []}, "photos"), ({"client_uuid": "nope"}, "client_uuid"),
])
def test_bad_input_is_a_400_with_the_field_and_leaves_nothing(people, changes, field):
    client = api_client(people["inspector"])
    response = create(client, people, **changes)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Case.objects.exists()


def test_oversized_upload_is_refused(people, settings):
    settings.PHOTO_MAX_BYTES = 1000
    response = create(api_client(people["inspector"]), people, photos=[_named(io.BytesIO(jpeg(400, 400)))])
    assert response.status_code == 400 and "larger than" in response.json()["photos"][0]
    assert not Case.objects.exists()


def test_malformed_json_and_truncated_multipart(people):
    client = api_client(people["inspector"])
    bad_json = client.post(reverse("incidents:case-list"), "{\"lon\": 112.", content_type="application/json")
    assert bad_json.status_code == 400
    body = b"--XYZ\r\nContent-Disposition: form-data; name=\"lon\"\r\n\r\n112.8"
    truncated = client.post(reverse("incidents:case-list"), body, content_type="multipart/form-data; boundary=XYZ")
    assert truncated.status_code == 400
    assert not Case.objects.exists()


def test_exif_orientation_is_honoured_and_public_gps_dropped(people):
    img = Image.new("RGB", (80, 40), "blue")
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90°: a portrait photo stored landscape
    exif.get_ifd(0x8825).update({1: "N", 2: (27.0, 52.0, 0.0), 3: "E", 4: (112.0, 53.0, 0.0)})
    from django.core.files.uploadedfile import SimpleUploadedFile

    from incidents.photos import prepare_photo

    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    staff = prepare_photo(SimpleUploadedFile("p.jpg", out.getvalue()), keep_metadata=True)
    public = prepare_photo(SimpleUploadedFile("p.jpg", out.getvalue()), keep_metadata=False)
    assert (staff.width, staff.height) == (40, 80)
    assert staff.taken_location is not None and round(staff.taken_location.y, 3) == round(27 + 52 / 60, 3)
    assert public.taken_location is None
    stored = Image.open(io.BytesIO(public.image))
    assert not stored.getexif().get_ifd(0x8825)


def test_duplicates_are_offered(people):
    client = api_client(people["inspector"])
    first = create(client, people).json()
    second = create(client, people).json()
    assert first["id"] in second["properties"]["likely_duplicates"]


def test_actions_over_http_and_409_on_conflict(people):
    number = create(api_client(people["inspector"]), people).json()["id"]
    operator, dispatcher = api_client(people["operator"]), api_client(people["dispatcher"])
    url = lambda action: reverse("incidents:case-action", args=[number, action])  # noqa: E731
    ok = operator.post(url("register"), {"version": 1}, format="json")
    assert ok.status_code == 200 and ok.json()["properties"]["status"] == "registered"
    assert "人工派遣" in ok.json()["properties"]["routing"]["explanation"]
    assert ok.json()["properties"]["sla"] == "green"
    stale = dispatcher.post(url("reject"), {"version": 1, "reason": "x"}, format="json")
    assert stale.status_code == 409
    assert stale.json()["status"] == "registered" and stale.json()["version"] == 2
    bad = dispatcher.post(url("dispatch"), {"bureau": "nope"}, format="json")
    assert bad.status_code == 400 and "bureau" in bad.json()
    done = dispatcher.post(url("dispatch"), {"bureau": "430302-CG", "version": 2}, format="json")
    assert done.json()["properties"]["bureau"] == "430302-CG"
    assert api_client(people["water_staff"]).post(url("accept"), {}, format="json").status_code == 404
    assert api_client(people["leader"]).post(url("close"), {}, format="json").status_code == 403


def test_verification_tasks_and_verify_with_photo(people):
    number = create(api_client(people["inspector"]), people).json()["id"]
    case = Case.objects.get(number=number)
    case = lifecycle.dispatch(lifecycle.register(case, people["operator"]), people["dispatcher"], bureau=people["cg"])
    staff = api_client(people["cg_staff"])
    r = staff.post(reverse("incidents:case-action", args=[number, "accept"]), {}, format="json")
    assert r.status_code == 200, (r.content, case.bureau_id, people["cg_staff"].profile.bureau_id, case.district_id)
    r = staff.post(reverse("incidents:case-action", args=[number, "process"]),
                   {"note": "已清理", "photos": [_named(io.BytesIO(jpeg()))]}, format="multipart")
    assert r.status_code == 200, r.json()
    inspector = api_client(people["inspector"])
    tasks = inspector.get(reverse("incidents:verification-tasks")).json()
    assert [f["id"] for f in tasks["features"]] == [number]
    r = inspector.post(reverse("incidents:case-action", args=[number, "verify"]),
                       {"passed": "true", "photos": [_named(io.BytesIO(jpeg()))]}, format="multipart")
    assert r.json()["properties"]["status"] == "verified"
    assert inspector.get(reverse("incidents:verification-tasks")).json()["features"] == []


def test_roles_see_their_own_cases(people):
    inspector = api_client(people["inspector"])
    number = create(inspector, people).json()["id"]
    Case.objects.filter(number=number).update(bureau=people["cg"])
    seen = lambda user: [f["id"] for f in api_client(people[user]).get(reverse("incidents:case-list")).json()["features"]]  # noqa: E731,E501
    assert seen("inspector") == [number] and seen("operator") == [number] and seen("cg_staff") == [number]
    assert seen("water_staff") == [] and seen("east_dispatcher") == [] and seen("other_inspector") == []
    assert api_client(people["water_staff"]).get(reverse("incidents:case-detail", args=[number])).status_code == 404


def test_contact_details_are_masked_for_roles_that_do_not_call_back(people):
    operator = api_client(people["operator"])
    lon, lat = point_in(people["a"])
    r = operator.post(reverse("incidents:case-list"), {"lon": lon, "lat": lat, "category": "SJ0601",
                      "source": "hotline_12345", "contact_name": "王小明", "contact_phone": "13812345678"},
                      format="json")
    number = r.json()["id"]
    own = operator.get(reverse("incidents:case-detail", args=[number])).json()
    assert own["properties"]["contact"]["phone"] == "13812345678"
    Case.objects.filter(number=number).update(bureau=people["cg"])
    masked = api_client(people["cg_staff"]).get(reverse("incidents:case-detail", args=[number])).json()
    assert masked["properties"]["contact"] == {"name": "王**", "phone": "138****5678", "email": ""}


def test_filters_and_exports(people):
    client = api_client(people["inspector"])
    create(client, people)
    create(client, people, category="SJ0501", description="游商")
    operator = api_client(people["operator"])
    assert operator.get(reverse("incidents:case-list"), {"category": "SJ05"}).json()["count"] == 1
    assert operator.get(reverse("incidents:case-list"), {"status": "reported,closed"}).json()["count"] == 2
    assert operator.get(reverse("incidents:case-list"), {"area": "430304"}).json()["count"] == 0
    assert operator.get(reverse("incidents:case-list"), {"overdue": "true"}).json()["count"] == 0
    assert operator.get(reverse("incidents:case-list"), {"bbox": "1,2"}).status_code == 400
    assert operator.get(reverse("incidents:case-list"), {"status": "lost"}).status_code == 400
    csv_body = b"".join(operator.get(reverse("incidents:case-export")).streaming_content).decode()
    assert csv_body.count("\n") == 3 and "游商" in csv_body
    geo = operator.get(reverse("incidents:case-export"), {"as": "geojson"}).json()
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 2


def test_catalogue_lists_subclasses_with_limits(people):
    body = api_client(people["inspector"]).get(reverse("incidents:catalogue")).json()
    codes = {c["code"]: c for c in body}
    assert codes["BJ0101"]["name_zh"] == "上水井盖" and codes["SJ0403"]["kind"] == "event"
    assert codes["SJ0102"]["time_limits"]["urgent"] == "2 hours"
    for common in ("BJ0109", "BJ0108", "BJ0201", "SJ0306", "SJ0102", "SJ0501", "SJ0201", "SJ0302", "SJ0405",
                   "SJ0403", "SJ0406", "SJ0407"):
        assert common in codes


def test_errors_are_chinese_first(people):
    response = create(api_client(people["inspector"]), people, category="SJ9999")
    assert response.json()["category"] == ["未知类别 SJ9999。"]
