import pytest
from django.contrib.gis.geos import GEOSGeometry
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from citygrid import roles
from citygrid.models import ApiToken
from grids.models import Bureau, Cell
from tests.conftest import make_user


def test_anonymous_requests_are_refused(gridded):
    response = APIClient().get(reverse("grids:area-list"))
    assert response.status_code in (401, 403)


def test_token_is_stored_hashed_and_can_be_revoked(gridded, dispatcher):
    token, key = ApiToken.issue(dispatcher, "phone")
    assert key not in token.key_hash and len(token.key_hash) == 64
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(reverse("grids:area-list")).status_code == 200
    token.revoke()
    assert client.get(reverse("grids:area-list")).status_code == 401
    expired, key2 = ApiToken.issue(dispatcher, "old")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    client.credentials(HTTP_AUTHORIZATION=f"Token {key2}")
    assert client.get(reverse("grids:area-list")).status_code == 401


def test_areas_are_a_feature_collection_filtered_by_level_and_parent(api, gridded):
    body = api.get(reverse("grids:area-list"), {"level": "district"}).json()
    assert body["type"] == "FeatureCollection"
    assert [f["id"] for f in body["features"]] == ["430302", "430304"]
    assert body["features"][0]["properties"]["parent"] == "430300"
    assert body["features"][0]["geometry"]["type"] == "MultiPolygon"
    children = api.get(reverse("grids:area-list"), {"parent": "430302001"}).json()
    assert [f["properties"]["name"] for f in children["features"]] == ["和平社区", "建设社区"]


def test_bbox_filter(api, gridded):
    west_only = api.get(reverse("grids:area-list"), {"level": "district", "bbox": "112.81,27.81,112.82,27.82"}).json()
    assert [f["id"] for f in west_only["features"]] == ["430302"]
    cells = api.get(reverse("grids:cell-list"), {"bbox": "112.8800,27.8850,112.8815,27.8860", "page_size": 500}).json()
    assert 1 <= cells["count"] <= 12
    assert all(c["properties"]["community"] == "430302001001" for c in cells["features"])


@pytest.mark.parametrize(("params", "field"), [
    ({"bbox": "1,2,3"}, "bbox"), ({"bbox": "a,b,c,d"}, "bbox"), ({"bbox": "113,27,112,28"}, "bbox"),
    ({"zoom": "99"}, "zoom"), ({"level": "planet"}, "level"),
])
def test_bad_filters_give_field_errors(api, gridded, params, field):
    response = api.get(reverse("grids:area-list"), params)
    assert response.status_code == 400
    assert field in response.json()


def test_pagination(api, gridded):
    total = Cell.objects.count()
    first = api.get(reverse("grids:cell-list"), {"page_size": 10}).json()
    assert first["count"] == total and len(first["features"]) == 10 and first["next"]
    second = api.get(first["next"]).json()
    assert {f["id"] for f in first["features"]}.isdisjoint(f["id"] for f in second["features"])


def test_zoom_simplifies_geometry(api, gridded):
    def vertices(zoom=None):
        params = {"level": "community"} | ({"zoom": zoom} if zoom is not None else {})
        feats = api.get(reverse("grids:area-list"), params).json()["features"]
        return sum(GEOSGeometry(str(f["geometry"]).replace("'", '"')).num_coords for f in feats)

    # Round community B's corners into arcs of many vertices, so simplification has work to do.
    from django.db import connection
    with connection.cursor() as cur:
        cur.execute("UPDATE grids_area SET geom = ST_Multi(ST_Buffer(geom, 0.0003, 'quad_segs=64')) "
                    "WHERE code = '430302001002'")
    assert vertices(8) < vertices(18) <= vertices()


def test_cell_detail_lists_inspectors_and_bureaus(api, gridded):
    cell = Cell.objects.filter(community=gridded["a"]).order_by("code").first()
    inspector = make_user("grid1", roles.INSPECTOR, district=gridded["west"])
    cell.inspectors.add(inspector)
    power = Bureau.objects.create(code="430300-GD", name="国网湘潭供电公司", kind=Bureau.Kind.POWER)
    cg = Bureau.objects.create(code="430302-CG", name="雨湖区城管局", kind=Bureau.Kind.CITY_MANAGEMENT,
                               district=gridded["west"])
    cell.bureaus.add(power)
    gridded["west"].bureaus.add(cg)
    body = api.get(reverse("grids:cell-detail", args=[cell.code])).json()
    props = body["properties"]
    assert body["id"] == cell.code and body["type"] == "Feature"
    assert props["community"]["name"] == "和平社区" and props["district"]["code"] == "430302"
    assert [i["username"] for i in props["inspectors"]] == ["grid1"]
    assert [b["code"] for b in props["bureaus"]] == ["430300-GD"]
    assert [(b["code"], b["via"]) for b in props["area_bureaus"]] == [("430302-CG", "430302")]
    assert 2_000 < props["area_m2"] <= 20_000
    assert api.get(reverse("grids:cell-detail", args=["430302001001999"])).status_code == 404


def test_locate_get(api, gridded):
    cell = Cell.objects.filter(community=gridded["b"]).order_by("code")[3]
    p = cell.geom.point_on_surface
    body = api.get(reverse("grids:locate"), {"lon": p.x, "lat": p.y}).json()
    assert body["cell"]["code"] == cell.code
    assert body["community"]["name"] == "建设社区" and body["city"]["code"] == "430300"


def test_locate_outside_and_bad_input(api, gridded):
    outside = api.get(reverse("grids:locate"), {"lon": 116.4, "lat": 39.9})
    assert outside.status_code == 404 and outside.json()["code"] == "outside_jurisdiction"
    bad = api.get(reverse("grids:locate"), {"lon": "east", "lat": 95})
    assert bad.status_code == 400 and set(bad.json()) == {"lon", "lat"}
    assert api.get(reverse("grids:locate"), {"lat": 27.8}).status_code == 400


def test_locate_batch(api, gridded):
    cell = Cell.objects.filter(community=gridded["a"]).order_by("code")[0]
    p = cell.geom.point_on_surface
    body = api.post(reverse("grids:locate"), {"points": [[p.x, p.y], [116.4, 39.9], [112.95, 27.85]]},
                    format="json").json()
    assert body["count"] == 3 and body["located"] == 2
    assert body["results"][0] == {"cell": cell.code, "community": "430302001001", "street": "430302001",
                                  "district": "430302", "city": "430300"}
    assert body["results"][1] is None
    assert body["results"][2]["cell"] is None and body["results"][2]["district"] == "430304"
    assert body["names"]["430302001001"] == "和平社区"


@pytest.mark.parametrize("payload", [{"points": "x"}, {"points": [[1, 2], [3]]}, {"points": [[1, True]]},
                                     {"points": [[500, 1]]}, ["not", "an", "object"]])
def test_locate_batch_bad_input(api, gridded, payload):
    response = api.post(reverse("grids:locate"), payload, format="json")
    assert response.status_code == 400 and "points" in response.json()


def test_malformed_json_is_a_400(api, gridded):
    response = api.post(reverse("grids:locate"), "{bad json", content_type="application/json")
    assert response.status_code == 400


def test_bureau_list(api, gridded):
    Bureau.objects.create(code="430300-CG", name="湘潭市城管局", kind=Bureau.Kind.CITY_MANAGEMENT)
    body = api.get(reverse("grids:bureau-list")).json()
    assert body["results"][0]["kind_label"]


def test_openapi_schema_describes_the_grid_api(api, gridded):
    response = api.get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/grids/areas/", "/api/grids/cells/{code}/", "/api/grids/locate"):
        assert path in paths
    assert api.get(reverse("api-docs")).status_code == 200


def test_admin_lists_and_edits_the_grid_on_a_map(gridded, client):
    from django.contrib.auth.models import User

    admin = User.objects.create_superuser("root", password="Correct-horse-42")
    client.force_login(admin)
    for url in ("/admin/grids/area/", "/admin/grids/cell/", "/admin/grids/bureau/", "/admin/auth/user/",
                "/admin/citygrid/apitoken/"):
        assert client.get(url).status_code == 200, url
    cell = Cell.objects.order_by("code").first()
    page = client.get(f"/admin/grids/cell/{cell.pk}/change/").content.decode()
    assert "leaflet" in page.lower() and "id_geom" in page
    response = client.post("/admin/citygrid/apitoken/add/", {"user": admin.pk, "name": "gps-tracker"}, follow=True)
    token = ApiToken.objects.get(name="gps-tracker")
    assert token.prefix in response.content.decode() and len(token.key_hash) == 64


def test_issue_token_command(dispatcher, capsys):
    from django.core.management import call_command

    call_command("issue_token", "disp", "--name", "tablet")
    key = capsys.readouterr().out.strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(reverse("grids:bureau-list")).status_code == 200


def test_a_token_of_an_inactive_user_is_refused(gridded, dispatcher):
    _, key = ApiToken.issue(dispatcher, "old phone")
    dispatcher.is_active = False
    dispatcher.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(reverse("grids:area-list")).status_code == 401
