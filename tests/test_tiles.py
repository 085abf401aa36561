"""Vector tiles (tiles/): decoded with a maintained decoder (mapbox-vector-tile), their features and attributes,
the user's scope in the cases, components and pipes tiles, ETag and 304, and bad tile addresses (404 or 400,
never 500)."""

import math

import mapbox_vector_tile
import pytest
from django.contrib.gis.geos import Point
from django.urls import reverse

from citygrid import roles
from tests.conftest import api_client, jpeg, make_user, point_in


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def url(layer: str, lon: float, lat: float, z: int, query: str = "") -> str:
    z, x, y = tile_of(lon, lat, z)
    return reverse(f"tiles:{layer}", kwargs={"z": z, "x": x, "y": y}) + (f"?{query}" if query else "")


def decode(response) -> dict:
    assert response.status_code == 200, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/vnd.mapbox-vector-tile"
    return mapbox_vector_tile.decode(response.content)


def _report(people, lon, lat, category="SJ0501", urgency="normal"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from incidents import intake

    return intake.submit(intake.Report(lon=lon, lat=lat, category=category, source="inspector", urgency=urgency,
                                       photos=[SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg")]),
                         reporter=people["inspector"]).case


@pytest.fixture
def cases(people):
    west_case = _report(people, *point_in(people["a"]))
    east_case = _report(people, 112.9505, 27.8505)  # 岳塘区: no cells there, the district is its deepest area
    assert west_case.district_id == people["west"].pk and east_case.district_id == people["east"].pk
    return {"west": west_case, "east": east_case}


def test_cells_and_areas_tiles_decode_with_codes_and_names(people):
    lon, lat = point_in(people["a"])
    layers = decode(api_client(people["inspector"]).get(url("cells", lon, lat, 15)))
    codes = {f["properties"]["code"] for f in layers["cells"]["features"]}
    assert codes and codes <= set(people["a"].cells.values_list("code", flat=True)) | set(
        people["b"].cells.values_list("code", flat=True))
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in layers["cells"]["features"])
    assert all(isinstance(f["id"], int) for f in layers["cells"]["features"])
    # Below CELL_MIN_ZOOM the cells are left out: an empty tile, not an error.
    assert api_client(people["inspector"]).get(url("cells", lon, lat, 11)).content == b""

    areas = decode(api_client(people["inspector"]).get(url("areas", lon, lat, 13)))["areas"]["features"]
    by_code = {f["properties"]["code"]: f["properties"] for f in areas}
    assert by_code["430302"]["name"] == "雨湖区" and by_code["430302"]["level"] == 2
    assert by_code["430302001001"]["name"] == "和平社区"
    # Communities only from zoom 12 (generalisation by level).
    areas_z9 = decode(api_client(people["inspector"]).get(url("areas", lon, lat, 9)))["areas"]["features"]
    assert {f["properties"]["level"] for f in areas_z9} <= {1, 2}


def test_cases_tile_holds_the_users_cases_only_and_nothing_personal(people, cases):
    west = make_user("disp_west", roles.DISPATCHER, district=people["west"])
    # A tile covering both districts' cases (zoom 15 points: the two lie 6 km apart, so zoom 11 clusters).
    lon, lat = cases["west"].location.x, cases["west"].location.y
    city = decode(api_client(people["dispatcher"]).get(url("cases", lon, lat, 16)))
    [feature] = city["cases"]["features"]
    assert feature["properties"]["number"] == cases["west"].number
    assert set(feature["properties"]) == {"number", "status", "urgency", "category", "overdue"}
    assert feature["properties"]["status"] == cases["west"].status and feature["properties"]["category"] == "SJ0501"
    assert feature["id"] == cases["west"].pk

    # The east district's dispatcher does not get the west district's case, even asking for its tile.
    assert api_client(people["east_dispatcher"]).get(url("cases", lon, lat, 16)).content == b""
    east_lon, east_lat = cases["east"].location.x, cases["east"].location.y
    east = decode(api_client(people["east_dispatcher"]).get(url("cases", east_lon, east_lat, 16)))
    assert [f["properties"]["number"] for f in east["cases"]["features"]] == [cases["east"].number]
    assert api_client(west).get(url("cases", east_lon, east_lat, 16)).content == b""

    # Clusters at city zoom: one tile holding both districts; counts by scope.
    z, x, y = tile_of(lon, lat, 10)
    assert tile_of(east_lon, east_lat, 10) == (z, x, y)
    path = reverse("tiles:cases", kwargs={"z": z, "x": x, "y": y})
    clusters = decode(api_client(people["dispatcher"]).get(path))["cases"]["features"]
    total = sum(f["properties"]["count"] for f in clusters)
    assert total == 2
    mine = decode(api_client(west).get(path))["cases"]["features"]
    assert sum(f["properties"]["count"] for f in mine) == 1
    assert set(mine[0]["properties"]) == {"count", "overdue", "emergency"}


def test_cases_tile_follows_the_case_lists_filters(people, cases):
    from incidents import lifecycle

    lon, lat = cases["west"].location.x, cases["west"].location.y
    client = api_client(people["dispatcher"])
    lifecycle.cancel(cases["west"], people["dispatcher"], reason="重复")  # a final status: off the default tile
    assert client.get(url("cases", lon, lat, 16)).content == b""
    layers = decode(client.get(url("cases", lon, lat, 16, "status=cancelled")))
    assert [f["properties"]["status"] for f in layers["cases"]["features"]] == ["cancelled"]
    assert client.get(url("cases", lon, lat, 16, "category=SJ02")).content == b""
    bad = client.get(url("cases", lon, lat, 16, "status=nonsense&since=yesterday"))
    assert bad.status_code == 400 and {"status", "since"} <= set(bad.json())


def test_components_and_pipes_tiles_are_scoped(people):
    from assets import census, codes
    from assets.building import build_network
    from assets.models import Component, PipeNetwork

    lon, lat = point_in(people["a"])
    component = Component(code=codes.make_code("430302", "BJ0108", 1), subclass="BJ0108", name="消防栓一号",
                          geom=Point(lon, lat, srid=4326), bureau=people["cg"])
    census.save_component(component, people["dispatcher"])
    network = PipeNetwork.objects.create(code="W1", name="城区给水管网", kind="water", bureau=people["cg"])
    build_network(network, [("P1", "junction", lon, lat), ("V1", "valve", lon + 2e-4, lat)], [("W-1", "P1", "V1")],
                  {"diameter_mm": 300})

    layers = decode(api_client(people["cg_staff"]).get(url("components", lon, lat, 17)))
    [f] = layers["components"]["features"]
    assert f["properties"] == {"code": component.code, "subclass": "BJ0108", "status": "good", "name": "消防栓一号",
                             "shape": "point"}
    assert f["geometry"]["type"] == "Point"
    # The water bureau is not in charge of this hydrant, nor of this network.
    assert api_client(people["water_staff"]).get(url("components", lon, lat, 17)).content == b""
    assert api_client(people["water_staff"]).get(url("pipes", lon, lat, 17)).content == b""
    # Below COMPONENT_MIN_ZOOM: nothing, as the GeoJSON.
    assert api_client(people["cg_staff"]).get(url("components", lon, lat, 14)).content == b""

    pipes = decode(api_client(people["cg_staff"]).get(url("pipes", lon, lat, 17)))
    [segment] = pipes["segments"]["features"]
    assert segment["properties"] == {"code": "W-1", "network_kind": "water", "diameter_mm": 300, "status": "in_use"}
    assert segment["geometry"]["type"] == "LineString"
    assert [p["properties"]["kind"] for p in pipes["points"]["features"]] == ["valve"]  # junctions left out
    # Pipes are not every role's: the policy refuses an inspector.
    assert api_client(people["inspector"]).get(url("pipes", lon, lat, 17)).status_code == 403


def test_etag_and_304(people, cases):
    lon, lat = cases["west"].location.x, cases["west"].location.y
    client = api_client(people["dispatcher"])
    first = client.get(url("cases", lon, lat, 16))
    etag = first["ETag"]
    assert etag.startswith('"') and first["Cache-Control"] == "private, no-cache"
    again = client.get(url("cases", lon, lat, 16), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    assert client.get(url("cases", lon, lat, 16), HTTP_IF_NONE_MATCH=f'W/{etag}, "x"').status_code == 304
    # A change in the tile changes its ETag.
    _report(people, lon, lat)
    changed = client.get(url("cases", lon, lat, 16), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    # The grid's tiles are the same for everyone: cached for a while.
    cells = client.get(url("cells", lon, lat, 15))
    assert cells["Cache-Control"].startswith("private, max-age=")
    assert client.get(url("cells", lon, lat, 15), HTTP_IF_NONE_MATCH=cells["ETag"]).status_code == 304


@pytest.mark.parametrize("path", ["/tiles/cells/23/0/0.pbf", "/tiles/cells/3/8/0.pbf", "/tiles/cells/3/0/8.pbf",
                                  "/tiles/cells/-1/0/0.pbf", "/tiles/cells/a/b/c.pbf", "/tiles/nothing/1/0/0.pbf",
                                  "/tiles/cells/1/0/0.png", "/tiles/cases/99999999999999999999/0/0.pbf"])
def test_bad_tile_addresses_are_404(people, path):
    assert api_client(people["dispatcher"]).get(path).status_code == 404


def test_tiles_need_a_login_and_a_role(people, client):
    lon, lat = point_in(people["a"])
    assert client.get(url("cells", lon, lat, 15)).status_code in (401, 403)
    admin = make_user("sysadmin", roles.ADMIN)  # no case in his scope, and no pipe for him
    assert api_client(admin).get(url("cases", lon, lat, 15)).content == b""
    assert api_client(admin).get(url("pipes", lon, lat, 17)).status_code == 403
    assert api_client(make_user("auditor", roles.AUDITOR)).get(url("cells", lon, lat, 15)).status_code == 403


def test_cluster_tiles_count_each_case_once_where_it_lies(people):
    """Around a corner where four zoom-14 tiles meet: every case is counted in exactly one of them, the cluster of a
    lone case sits on the case (in tile units), and the cluster's flags count what they say."""
    from incidents.intake import Report, submit

    lon0, lat0 = point_in(people["a"])
    z, x, y = tile_of(lon0, lat0, 14)
    n = 2 ** z
    corner_lon = (x + 1) / n * 360 - 180  # the tile's east edge and south edge
    corner_lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 1) / n))))
    offsets = [(-0.0004, 0.0003), (0.0004, 0.0003), (-0.0004, -0.0003), (0.0004, -0.0003), (-0.0001, 0.00005),
               (0.0, 0.0)]  # the last exactly on the corner: in one tile only
    made = [submit(Report(lon=corner_lon + dx, lat=corner_lat + dy, source="hotline_12345",
                          **({"category": "SJ0403", "urgency": "emergency"} if i == 1 else
                             {"category": "SJ0501", "urgency": "normal"}))).case
            for i, (dx, dy) in enumerate(offsets)]
    client = api_client(people["dispatcher"])
    total, emergencies, placed = 0, 0, False
    for tx, ty in ((x, y), (x + 1, y), (x, y + 1), (x + 1, y + 1)):
        body = client.get(reverse("tiles:cases", kwargs={"z": z, "x": tx, "y": ty}))
        features = decode(body)["cases"]["features"] if body.content else []
        total += sum(f["properties"]["count"] for f in features)
        emergencies += sum(f["properties"]["emergency"] for f in features)
        for f in features:
            if f["properties"]["count"] == 1 and made[1].location.x > corner_lon and tx == x + 1 and ty == y:
                # the lone case north-east of the corner: its point where the case is in this tile
                px = (made[1].location.x + 180) / 360 * n - tx
                py = (1 - math.asinh(math.tan(math.radians(made[1].location.y))) / math.pi) / 2 * n - ty
                gx, gy = f["geometry"]["coordinates"]
                # within a zoom-24 pixel (4 tile units at zoom 14, a quarter of a screen pixel); decoded y points up
                assert abs(gx - px * 4096) <= 5 and abs((4096 - gy) - py * 4096) <= 5
                placed = True
    assert (total, emergencies) == (len(made), 1) and placed


def test_the_open_cases_tile_index_holds_exactly_the_cases_not_final(db):
    """The covering index the cluster tiles read is partial on the final statuses, written out in its migration:
    should FINAL_STATUSES change, the planner would silently stop using it."""
    import re

    from django.db import connection

    from incidents.models import FINAL_STATUSES

    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_expr(indpred, indrelid) FROM pg_index "
                    "WHERE indexrelid = 'case_open_tile_idx'::regclass")
        predicate = cur.fetchone()[0]
    assert set(re.findall(r"'(\w+)'", predicate)) == set(FINAL_STATUSES)
