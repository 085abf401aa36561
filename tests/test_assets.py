"""The component census (issue 15): codes, location on save, history, the API (map view, nearest, detail,
changes), census changes approved by staff — on real PostGIS."""

import datetime as dt

import pytest
from django.contrib.gis.geos import LineString, Point
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InternalError, ProgrammingError, connection, transaction
from django.urls import reverse

from assets import census, codes
from assets.models import CensusChange, Component, ComponentLog
from tests.conftest import api_client, make_user, point_in


def test_codes_follow_the_layout_and_the_widths(settings):
    codes.validate_code("4303020108000123", "BJ0108", "430302")
    for bad, why in [("430302010800012", "length"), ("43030201080001x3", "digits"),
                     ("4303020109000123", "class"), ("4303020108000000", "zero")]:
        with pytest.raises(ValidationError) as exc:
            codes.validate_code(bad, "BJ0108")
        assert exc.value.code == why, bad
    with pytest.raises(ValidationError) as exc:
        codes.validate_code("4303040108000123", "BJ0108", "430302")
    assert exc.value.code == "county"
    settings.COMPONENT_CODE_WIDTHS = (6, 2, 2, 4)
    assert codes.make_code("430302", "BJ0108", 7) == "43030201080007"
    codes.validate_code("43030201080007", "BJ0108")


def _component(people, subclass="BJ0108", seq=1, at=None, **fields) -> Component:
    lon, lat = at or point_in(people["a"])
    component = Component(code=codes.make_code("430302", subclass, seq), subclass=subclass,
                          geom=Point(lon, lat, srid=4326), bureau=people["cg"], **fields)
    census.save_component(component, people["dispatcher"])
    return component


def test_a_component_is_located_on_save_and_its_history_kept(people):
    c = _component(people, name="消防栓 1", owner="湘潭自来水公司", survey_date=dt.date(2026, 3, 1))
    lon, lat = point_in(people["a"])
    assert c.district == people["west"] and c.community == people["a"] and c.cell.geom.contains(Point(lon, lat))
    [created] = c.log.all()
    assert created.action == "create" and created.changes["owner"] == [None, "湘潭自来水公司"]
    c.status = "damaged"
    census.save_component(c, people["dispatcher"], note="巡查发现")
    assert census.save_component(c, people["dispatcher"]) is None  # nothing changed, nothing recorded
    assert [e.changes for e in c.log.filter(action="update")] == [{"status": ["good", "damaged"]}]
    # A line (a length of railing) is located by a point on it.
    x, y = point_in(people["a"])
    railing = Component(code=codes.make_code("430302", "BJ0204", 1), subclass="BJ0204",
                        geom=LineString((x, y), (x + 0.0003, y), srid=4326))
    census.save_component(railing, None)
    assert railing.community == people["a"]


def test_the_history_is_append_only_in_the_database(people):
    c = _component(people)
    entry = c.log.get()
    for statement in ("UPDATE assets_componentlog SET note = 'x' WHERE id = %s",
                      "DELETE FROM assets_componentlog WHERE id = %s"):
        with pytest.raises((InternalError, ProgrammingError)), transaction.atomic(), connection.cursor() as cur:
            cur.execute(statement, [entry.pk])
    assert ComponentLog.objects.get(pk=entry.pk).note == ""


@pytest.mark.parametrize(("fields", "field"), [
    ({"subclass": "BJ9999"}, "subclass"), ({"subclass": "SJ0101"}, "subclass"),
    ({"code": "4303040108000001"}, "code"), ({"code": "4303020109000001"}, "code"),
    ({"geom": Point(100.0, 20.0, srid=4326)}, "geom")])
def test_bad_components_are_refused_with_the_field(people, fields, field):
    lon, lat = point_in(people["a"])
    values = {"code": "4303020108000001", "subclass": "BJ0108", "geom": Point(lon, lat, srid=4326), **fields}
    with pytest.raises(ValidationError) as exc:
        Component(**values).save()
    assert field in exc.value.message_dict
    assert not Component.objects.exists()


def test_a_duplicate_code_is_refused(people):
    _component(people)
    with pytest.raises(IntegrityError), transaction.atomic():
        _component(people)


def test_the_map_view_lists_components_in_the_box_scoped(people):
    lon, lat = point_in(people["a"])
    _component(people, seq=1)
    _component(people, subclass="BJ0109", seq=1, at=(lon + 0.0002, lat))
    box = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    url = reverse("assets:component-list")
    body = api_client(people["dispatcher"]).get(url, {"bbox": box, "zoom": 17}).json()
    assert body["type"] == "FeatureCollection" and not body["truncated"]
    assert {f["properties"]["subclass"] for f in body["features"]} == {"BJ0108", "BJ0109"}
    assert body["features"][0]["geometry"]["type"] == "Point"
    only = api_client(people["dispatcher"]).get(url, {"bbox": box, "zoom": 17, "subclass": "BJ0109"}).json()
    assert [f["properties"]["subclass"] for f in only["features"]] == ["BJ0109"]
    far = api_client(people["dispatcher"]).get(url, {"bbox": box, "zoom": 12}).json()
    assert far["features"] == [] and far["min_zoom"] == 16  # too far out to read
    assert api_client(people["east_dispatcher"]).get(url, {"bbox": box, "zoom": 17}).json()["features"] == []
    assert len(api_client(people["inspector"]).get(url, {"bbox": box, "zoom": 17}).json()["features"]) == 2
    assert api_client(people["water_staff"]).get(url, {"bbox": box, "zoom": 17}).json()["features"] == []
    for bad in ({}, {"bbox": "1,2,3"}, {"bbox": box, "zoom": "x"}, {"bbox": box, "status": "gone"}):
        response = api_client(people["dispatcher"]).get(url, bad)
        assert response.status_code == 400, bad


def test_nearest_of_a_subclass_within_the_radius(people):
    lon, lat = point_in(people["a"])
    metre = 1 / 111_320
    _component(people, seq=1, at=(lon, lat + 8 * metre))
    _component(people, seq=2, at=(lon, lat + 3 * metre))
    _component(people, seq=3, at=(lon, lat + 60 * metre))
    _component(people, subclass="BJ0109", seq=1, at=(lon, lat + 1 * metre))
    _component(people, seq=4, at=(lon, lat + 2 * metre), status="abandoned")
    url = reverse("assets:component-nearest")
    body = api_client(people["inspector"]).get(url, {"lon": lon, "lat": lat, "subclass": "BJ0108",
                                                     "accuracy": 5}).json()
    assert body["radius_m"] == 15
    assert [r["code"][-1] for r in body["results"]] == ["2", "1"]
    assert 2.5 < body["results"][0]["distance_m"] < 3.5
    wide = api_client(people["inspector"]).get(url, {"lon": lon, "lat": lat, "subclass": "BJ0108",
                                                     "radius": 100}).json()
    assert [r["code"][-1] for r in wide["results"]] == ["2", "1", "3"]
    assert api_client(people["east_dispatcher"]).get(url, {"lon": lon, "lat": lat, "subclass": "BJ0108",
                                                           "radius": 100}).json()["results"] == []
    for bad in ({"lon": lon, "lat": lat}, {"lon": "x", "lat": lat, "subclass": "BJ0108"},
                {"lon": lon, "lat": lat, "subclass": "BJ0108", "radius": 5000}):
        assert api_client(people["inspector"]).get(url, bad).status_code == 400, bad


def test_detail_and_a_change_through_the_api_recorded(people):
    c = _component(people, name="消防栓")
    url = reverse("assets:component-detail", args=[c.code])
    body = api_client(people["cg_staff"]).get(url).json()
    assert body["code"] == c.code and body["bureau"]["code"] == people["cg"].code
    assert body["district"]["name"] == "雨湖区" and [h["action"] for h in body["history"]] == ["create"]
    changed = api_client(people["cg_staff"]).patch(url, {"status": "damaged", "note": "被撞"}, format="json")
    assert changed.status_code == 200 and changed.json()["status"] == "damaged"
    entry = c.log.latest("id")
    assert entry.actor == people["cg_staff"] and entry.changes == {"status": ["good", "damaged"]}
    assert entry.note == "被撞"
    assert api_client(people["cg_staff"]).patch(url, {"status": "gone"}, format="json").status_code == 400
    moved = api_client(people["dispatcher"]).patch(url, {"lon": 100.0, "lat": 20.0}, format="json")
    assert moved.status_code == 400 and "geom" in moved.json()
    assert api_client(people["leader"]).patch(url, {"status": "good"}, format="json").status_code == 403
    # Nobody moves a component out of his own scope: a bureau does not hand it to another (its cases would follow),
    # a district's centre does not move it into another district; nothing of the change is kept.
    handed = api_client(people["cg_staff"]).patch(url, {"bureau": people["water"].code}, format="json")
    assert handed.status_code == 400 and "bureau" in handed.json()

    west = make_user("disp_west", "dispatcher", district=people["west"])
    away = api_client(west).patch(url, {"lon": 112.95, "lat": 27.85}, format="json")  # into 岳塘区
    assert away.status_code == 400  # (its code names its county, too)
    c.refresh_from_db()
    assert c.bureau == people["cg"] and c.district == people["west"] and c.log.count() == 2
    assert api_client(people["east_dispatcher"]).get(url).status_code == 404
    assert api_client(people["water_staff"]).get(url).status_code == 404
    # The city's centre may hand it over; then it is the water bureau's to keep.
    handed = api_client(people["dispatcher"]).patch(url, {"bureau": people["water"].code}, format="json")
    assert handed.status_code == 200 and api_client(people["water_staff"]).get(url).status_code == 200


def test_a_census_change_approved_by_staff(people):
    lon, lat = point_in(people["a"])
    _component(people, seq=7)
    change = CensusChange.objects.create(kind="new", subclass="BJ0108", location=Point(lon, lat, srid=4326),
                                         reported_by=people["inspector"], case_number="20261126000001")
    admin = make_user("census_admin", "admin")
    component = census.approve(change, admin)
    assert component.code == codes.make_code("430302", "BJ0108", 8)  # the next free sequence
    assert component.accuracy == "C" and component.log.get().action == "census"
    with pytest.raises(ValueError):
        census.approve(change, admin)
    gone = CensusChange.objects.create(kind="missing", subclass="BJ0108", location=Point(lon, lat, srid=4326),
                                       component=component)
    census.approve(gone, admin)
    component.refresh_from_db()
    assert component.status == "missing"


def test_approving_in_the_admin_reports_a_change_it_cannot_apply(people, client):
    """A reported new component outside the city cannot be surveyed in: the administrator is told which and why,
    the others are approved, nothing half done (no 500)."""
    lon, lat = point_in(people["a"])
    good = CensusChange.objects.create(kind="new", subclass="BJ0108", location=Point(lon, lat, srid=4326))
    outside = CensusChange.objects.create(kind="new", subclass="BJ0108", location=Point(100.0, 20.0, srid=4326))
    admin = make_user("census_admin2", "admin")
    admin.is_staff = True
    admin.save()
    client.force_login(admin)
    response = client.post(reverse("admin:assets_censuschange_changelist"),
                           {"action": "approve_changes", "_selected_action": [good.pk, outside.pk]}, follow=True)
    assert response.status_code == 200
    shown = " ".join(str(m) for m in response.context["messages"])
    assert str(outside.pk) in shown and "1" in shown
    good.refresh_from_db()
    outside.refresh_from_db()
    assert (good.state, outside.state) == ("approved", "pending")
    assert Component.objects.filter(subclass="BJ0108").count() == 1
