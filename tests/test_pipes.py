"""The pipe networks' three questions on real PostGIS and pgRouting (issue 15, part 3): what is under here, which
valves to close for a burst, what is downstream and upstream of a blocked sewer."""

import pytest
from django.urls import reverse

from assets import pipes
from assets.building import build_network
from assets.models import PipeNetwork, PipeSegment
from tests.conftest import api_client, point_in

M = 1 / 111_320  # degrees per metre, near enough at this latitude for laying out a test network


@pytest.fixture
def water(people):
    """P0 ─s1─ V1 ─s2─ J2 ─s3─ J3 ─s4─ V2 ─s5─ J4, with a branch J2 ─s6─ V3 ─s7─ J5 and a service point S1 on J3
    (40 households): valves V1, V2, V3 around the middle."""
    lon, lat = point_in(people["a"])
    net = PipeNetwork.objects.create(code="W1", name="城区给水管网", kind="water", owner="湘潭自来水公司")
    at = lambda dx, dy: (lon + dx * M, lat + dy * M)  # noqa: E731
    points = [("P0", "junction", *at(0, 0)), ("V1", "valve", *at(20, 0)), ("J2", "junction", *at(40, 0)),
              ("J3", "junction", *at(60, 0)), ("V2", "valve", *at(80, 0)), ("J4", "junction", *at(100, 0)),
              ("V3", "valve", *at(40, 20)), ("J5", "junction", *at(40, 40)), ("S1", "service", *at(60, -10), 40)]
    segments = [("W-s1", "P0", "V1"), ("W-s2", "V1", "J2", 5), ("W-s3", "J2", "J3", 3), ("W-s4", "J3", "V2"),
                ("W-s5", "V2", "J4", 7), ("W-s6", "J2", "V3"), ("W-s7", "V3", "J5", 9), ("W-s8", "J3", "S1")]
    build_network(net, points, segments, {"material": "球墨铸铁", "diameter_mm": 300, "depth_start_m": 1.0,
                                          "depth_end_m": 2.0})
    return net


@pytest.fixture
def sewer(people):
    """M1 → M2 → M3 → O1 (outlet), with M4 → M2 joining: flow from source to target."""
    lon, lat = point_in(people["a"])
    net = PipeNetwork.objects.create(code="S1", name="城区污水管网", kind="sewer")
    at = lambda dx, dy: (lon + dx * M, lat + (dy - 50) * M)  # noqa: E731
    build_network(net, [("M1", "manhole", *at(0, 0)), ("M2", "manhole", *at(30, 0)), ("M3", "manhole", *at(60, 0)),
                        ("O1", "outlet", *at(90, 0)), ("M4", "manhole", *at(30, 30))],
                  [("S-1", "M1", "M2"), ("S-2", "M2", "M3"), ("S-3", "M3", "O1"), ("S-4", "M4", "M2")])
    return net


def test_valve_isolation_of_a_burst(water):
    middle = pipes.isolation(PipeSegment.objects.get(code="W-s3"))
    assert [v["code"] for v in middle.valves] == ["V1", "V2", "V3"]
    assert middle.segments == ["W-s2", "W-s3", "W-s4", "W-s6", "W-s8"]
    assert middle.customers == 5 + 3 + 40 and 75 < middle.length_m < 90  # 3 × 17.7 m east-west + 30 m
    # A burst at the dead end behind V1: one valve, one segment, nobody cut off.
    end = pipes.isolation(PipeSegment.objects.get(code="W-s1"))
    assert ([v["code"] for v in end.valves], end.segments, end.customers) == (["V1"], ["W-s1"], 0)
    # A segment with a valve at one end isolates the same as its neighbour on the other side.
    assert pipes.isolation(PipeSegment.objects.get(code="W-s2")).segments == middle.segments
    assert pipes.isolation(PipeSegment.objects.get(code="W-s7")).as_dict()["valves"][0]["code"] == "V3"
    # A disused segment takes no part: the burst behind it is cut off at V2 and nowhere else.
    PipeSegment.objects.filter(code="W-s6").update(status="disused")
    assert [v["code"] for v in pipes.isolation(PipeSegment.objects.get(code="W-s3")).valves] == ["V1", "V2"]


def test_downstream_and_upstream_of_a_sewer(sewer):
    down = pipes.flow(PipeSegment.objects.get(code="S-1"), "down")
    assert [s["code"] for s in down["segments"]] == ["S-2", "S-3"]
    assert [p["code"] for p in down["points"]] == ["M2", "M3", "O1"]
    assert down["points"][1]["along_m"] == pytest.approx(30 * 0.884, abs=0.5)  # 30 "metres" east at cos(27.9°)
    up = pipes.flow(PipeSegment.objects.get(code="S-2"), "up")
    assert sorted(s["code"] for s in up["segments"]) == ["S-1", "S-4"]
    assert sorted(p["code"] for p in up["points"]) == ["M1", "M2", "M4"]
    assert pipes.flow(PipeSegment.objects.get(code="S-3"), "down")["segments"] == []


def test_the_questions_refuse_the_wrong_network(water, sewer):
    with pytest.raises(pipes.PipeQueryError):
        pipes.isolation(PipeSegment.objects.get(code="S-1"))
    with pytest.raises(pipes.PipeQueryError):
        pipes.flow(PipeSegment.objects.get(code="W-s1"), "down")


def test_what_is_under_here(water, sewer, people):
    lon, lat = point_in(people["a"])
    here = pipes.under_here(f"POINT({lon + 50 * M} {lat + 1 * M})", lat, 3)
    assert [s["code"] for s in here["segments"]] == ["W-s3"]
    s = here["segments"][0]
    assert s["owner"] == "湘潭自来水公司" and s["material"] == "球墨铸铁" and s["network_kind"] == "water"
    assert s["depth_m"] == pytest.approx(1.5, abs=0.05) and s["distance_m"] == pytest.approx(1, abs=0.2)
    # A drawn line across both networks, 2 m either side.
    line = f"LINESTRING({lon + 45 * M} {lat + 10 * M}, {lon + 45 * M} {lat - 60 * M})"
    crossing = pipes.under_here(line, lat, 2)
    assert {s["code"] for s in crossing["segments"]} == {"W-s3", "S-2"}
    near = pipes.under_here(f"POINT({lon + 40 * M} {lat + 20 * M})", lat, 1)
    assert [p["code"] for p in near["points"]] == ["V3"] and near["points"][0]["kind"] == "valve"


def test_the_pipe_api(water, sewer, people):
    lon, lat = point_in(people["a"])
    client = api_client(people["dispatcher"])
    iso = client.get(reverse("assets:pipe-isolation", args=["W-s3"])).json()
    assert [v["code"] for v in iso["valves"]] == ["V1", "V2", "V3"] and iso["customers"] == 48
    sewer_burst = client.get(reverse("assets:pipe-isolation", args=["S-1"]))
    assert sewer_burst.status_code == 400 and sewer_burst.json() == {"code": ["污水管网没有可关闭的阀门。"]}  # as read
    assert client.get(reverse("assets:pipe-isolation", args=["nope"])).status_code == 404
    down = client.get(reverse("assets:pipe-flow", args=["S-1"]), {"direction": "down"}).json()
    assert [s["code"] for s in down["segments"]] == ["S-2", "S-3"]
    assert client.get(reverse("assets:pipe-flow", args=["S-1"]), {"direction": "sideways"}).status_code == 400
    under = client.get(reverse("assets:pipe-under"), {"lon": lon + 50 * M, "lat": lat, "radius": 3}).json()
    assert [s["code"] for s in under["segments"]] == ["W-s3"]
    line = f"{lon + 45 * M},{lat + 10 * M};{lon + 45 * M},{lat - 60 * M}"
    assert len(client.get(reverse("assets:pipe-under"), {"line": line, "radius": 2}).json()["segments"]) == 2
    for bad in ({}, {"lon": lon}, {"lon": lon, "lat": lat, "line": line}, {"line": "1,2"},
                {"lon": lon, "lat": lat, "radius": 1000}):
        assert client.get(reverse("assets:pipe-under"), bad).status_code == 400, bad
    view = client.get(reverse("assets:pipe-list"), {"bbox": f"{lon - 0.001},{lat - 0.001},{lon + 0.002},{lat + 0.001}",
                                                     "zoom": 18}).json()
    layers = {f["properties"]["code"]: f["properties"]["layer"] for f in view["features"]}
    assert layers["W-s3"] == "segment" and layers["V1"] == "point" and "J2" not in layers  # junctions not drawn
    staff = api_client(people["water_staff"])
    assert staff.get(reverse("assets:pipe-under"), {"lon": lon, "lat": lat}).status_code == 200


def test_a_network_exported_and_imported_back_in_another_crs(water, tmp_path):
    import subprocess

    from django.core.management import CommandError, call_command

    from assets.models import PipePoint
    from assets.pipe_import import import_pipes
    from grids.importing import ImportFailed

    before = pipes.isolation(PipeSegment.objects.get(code="W-s3")).as_dict()
    out, projected = tmp_path / "w1.gpkg", tmp_path / "w1-4547.gpkg"
    call_command("export_pipes", str(out), network="W1", verbosity=0)
    subprocess.run(["ogr2ogr", "-f", "GPKG", "-t_srs", "EPSG:4547", str(projected), str(out)], check=True)
    with pytest.raises(ImportFailed, match="already exists"):
        import_pipes(projected, network="W1", kind="给水")
    PipeSegment.objects.filter(network=water).delete()
    PipePoint.objects.filter(network=water).delete()
    water.delete()
    report = import_pipes(projected, network="W1", kind="给水", name="城区给水管网", owner="湘潭自来水公司")
    assert report.created == 17
    again = pipes.isolation(PipeSegment.objects.select_related("network").get(code="W-s3")).as_dict()
    assert again["segments"] == before["segments"] and again["customers"] == before["customers"]
    assert [v["code"] for v in again["valves"]] == ["V1", "V2", "V3"]
    assert all(abs(a["lon"] - b["lon"]) < 1e-6 for a, b in zip(again["valves"], before["valves"], strict=True))
    s3 = PipeSegment.objects.get(code="W-s3")
    assert s3.material == "球墨铸铁" and s3.depth_end_m == 2.0 and s3.customers == 3
    with pytest.raises(CommandError, match="problems|already exists"):
        call_command("import_pipes", str(projected), network="W9", kind="water", verbosity=0)  # codes in use
    with pytest.raises(CommandError, match="unknown network kind"):
        call_command("import_pipes", str(projected), network="W9", kind="河流", verbosity=0)


def test_a_hydrant_on_the_network_shows_the_valves_of_a_burst_there(water, people):
    from django.contrib.gis.geos import Point

    from assets import census, codes
    from assets.models import Component, PipePoint

    j3 = PipePoint.objects.get(code="J3")
    hydrant = Component(code=codes.make_code("430302", "BJ0108", 1), subclass="BJ0108",
                        geom=Point(j3.geom.x, j3.geom.y, srid=4326), bureau=people["cg"])
    census.save_component(hydrant, None)
    j3.component = hydrant
    j3.save()
    url = reverse("assets:component-detail", args=[hydrant.code])
    body = api_client(people["dispatcher"]).get(url).json()
    assert body["pipe"]["point"] == "J3" and body["pipe"]["network_kind"] == "water"
    assert [v["code"] for v in body["pipe"]["isolation"]["valves"]] == ["V1", "V2", "V3"]
    # The hydrant's readers who may not read the water network (the inspector of its cell, the bureau keeping the
    # hydrant but not the mains) see the component without the network's points and valves.
    for reader in (people["inspector"], people["cg_staff"]):
        body = api_client(reader).get(url).json()
        assert body["code"] == hydrant.code and body["pipe"] is None
    water.bureau = people["cg"]
    water.save()
    assert api_client(people["cg_staff"]).get(url).json()["pipe"]["isolation"]["valves"]


def test_an_isolated_area_larger_than_the_first_window_is_found_whole(people):
    """A 2.4 km main without valves but at its two ends: the search widens its window until no pipe leaves it."""
    lon, lat = point_in(people["a"])
    net = PipeNetwork.objects.create(code="W2", name="长输水管", kind="water")
    points = [("L-V0", "valve", lon - 20 * M, lat)]
    points += [(f"L-J{i}", "junction", lon + i * 60 * M, lat) for i in range(40)]
    points.append(("L-V1", "valve", lon + 40 * 60 * M, lat))
    segments = [("L-s0", "L-V0", "L-J0")] + [(f"L-s{i}", f"L-J{i - 1}", f"L-J{i}", 1) for i in range(1, 40)]
    segments.append(("L-s40", "L-J39", "L-V1", 1))
    build_network(net, points, segments)
    result = pipes.isolation(PipeSegment.objects.select_related("network").get(code="L-s1"))
    assert [v["code"] for v in result.valves] == ["L-V0", "L-V1"]
    assert len(result.segments) == 41 and result.customers == 40


def test_pipes_are_read_in_the_users_scope(water, people):
    """The centre reads every network; a district's centre its district's; a bureau the networks in its charge;
    an inspector none (the route and depth of a main are not every user's)."""
    from tests.conftest import make_user

    water.bureau = people["water"]
    water.save()
    lon, lat = point_in(people["a"])  # the network lies in the west district
    box = f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"

    def seen(user) -> tuple[int, int, int]:
        client = api_client(user)
        listed = client.get(reverse("assets:pipe-list"), {"bbox": box, "zoom": 18}).json()["features"]
        under = client.get(reverse("assets:pipe-under"), {"lon": lon + 40 * M, "lat": lat, "radius": 5}).json()
        isolation = client.get(reverse("assets:pipe-isolation", kwargs={"code": "W-s3"})).status_code
        return len(listed), len(under["segments"]), isolation

    assert seen(people["dispatcher"]) == (12, 3, 200)  # the city's centre: 8 segments, 4 points (junctions not drawn)
    assert seen(people["water_staff"]) == (12, 3, 200)  # the bureau in charge
    assert seen(people["cg_staff"]) == (0, 0, 404)  # another bureau
    assert seen(people["east_dispatcher"]) == (0, 0, 404)  # another district's centre
    assert seen(make_user("disp_west", "dispatcher", district=people["west"]))[2] == 200
    assert api_client(people["inspector"]).get(reverse("assets:pipe-list"), {"bbox": box}).status_code == 403
