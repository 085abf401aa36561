"""Cases and census components (issue 15, part 2): a report names the component picked, the component lists
its cases, routing prefers the component's bureau in charge unless a rule says otherwise, and reports of a
component missing from the map or gone from the street become census changes staff approve."""

import pytest
from django.contrib.gis.geos import Point
from django.urls import reverse

from assets import census, codes
from assets.models import CensusChange, Component
from incidents.models import Case, Category
from tests.conftest import api_client, jpeg, make_user, point_in


@pytest.fixture
def hydrant(people) -> Component:
    lon, lat = point_in(people["a"])
    c = Component(code=codes.make_code("430302", "BJ0108", 1), subclass="BJ0108", name="消防栓",
                  geom=Point(lon, lat + 5 / 111_320, srid=4326), bureau=people["cg"])
    census.save_component(c, None)
    return c


def _report(user, people, **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile

    lon, lat = point_in(people["a"])
    body = {"lon": lon, "lat": lat, "category": "BJ0108", "description": "消防栓漏水",
            "photos": [SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg")], **extra}
    return api_client(user).post(reverse("incidents:case-list"), body, format="multipart")


def test_a_report_names_its_component_and_the_component_lists_its_cases(people, hydrant):
    response = _report(people["inspector"], people, component=hydrant.code)
    assert response.status_code == 201, response.content
    number = response.json()["properties"]["number"]
    case = Case.objects.get(number=number)
    assert case.component == hydrant
    detail = api_client(people["dispatcher"]).get(reverse("incidents:case-detail", args=[number])).json()
    assert detail["properties"]["component"] == hydrant.code
    seen = api_client(people["inspector"]).get(reverse("assets:component-detail", args=[hydrant.code])).json()
    assert [c["number"] for c in seen["cases"]] == [number] and seen["cases"][0]["category_name"] == "消防栓"
    # The component's bureau staff see it, but not a case not dispatched to them.
    staff = api_client(people["cg_staff"]).get(reverse("assets:component-detail", args=[hydrant.code])).json()
    assert staff["cases"] == []


def test_a_wrong_component_is_a_field_error(people, hydrant):
    lamp = Component(code=codes.make_code("430302", "BJ0109", 1), subclass="BJ0109", geom=hydrant.geom)
    census.save_component(lamp, None)
    far = Component(code=codes.make_code("430302", "BJ0108", 2), subclass="BJ0108",
                    geom=Point(hydrant.geom.x + 0.003, hydrant.geom.y, srid=4326))
    census.save_component(far, None)
    for extra, field in [({"component": lamp.code}, "component"), ({"component": far.code}, "component"),
                         ({"component": "4303020108999999"}, "component"),
                         ({"component": hydrant.code, "category": "SJ0102"}, "component"),
                         ({"component": hydrant.code, "census": "new"}, "census"),
                         ({"census": "missing"}, "component"), ({"census": "moved"}, "census")]:
        response = _report(people["inspector"], people, **extra)
        assert response.status_code == 400 and field in response.json(), (extra, response.content)
    assert not Case.objects.exists()


def test_not_on_the_map_becomes_a_census_change_staff_approve(people, hydrant, client):
    response = _report(people["inspector"], people, census="new")
    assert response.status_code == 201, response.content
    change = CensusChange.objects.get()
    assert change.kind == "new" and change.state == "pending" and change.subclass == "BJ0108"
    assert change.case_number == response.json()["properties"]["number"] and change.reported_by == people["inspector"]
    gone = _report(people["inspector"], people, census="missing", component=hydrant.code)
    assert gone.status_code == 201
    admin = make_user("census_admin", "admin")
    admin.is_staff = True
    admin.save()
    client.force_login(admin)
    changelist = reverse("admin:assets_censuschange_changelist")
    done = client.post(changelist, {"action": "approve_changes",
                                    "_selected_action": list(CensusChange.objects.values_list("pk", flat=True))})
    assert done.status_code == 302
    assert set(CensusChange.objects.values_list("state", flat=True)) == {"approved"}
    hydrant.refresh_from_db()
    assert hydrant.status == "missing" and hydrant.log.latest("id").action == "census"
    new = Component.objects.exclude(pk=hydrant.pk).get()
    assert new.code == codes.make_code("430302", "BJ0108", 2) and new.accuracy == "C"


def test_routing_prefers_the_components_bureau_unless_a_rule_wins(people, hydrant, settings):
    from dispatch.models import RoutingRule
    from dispatch.routing import route

    hydrant_class = Category.objects.get(code="BJ0108")
    rule = RoutingRule.objects.create(category=hydrant_class, area=people["west"], bureau=people["water"])
    case = Case.objects.get(number=_report(people["inspector"], people, component=hydrant.code)
                            .json()["properties"]["number"])
    decision = route(case)
    assert decision.bureau_id == people["cg"].pk and hydrant.code in decision.explanation
    from incidents import lifecycle

    lifecycle.register(case, people["dispatcher"])
    case.refresh_from_db()
    assert case.routing.bureau == people["cg"]  # what the case's routing panel shows
    settings.ROUTE_BY_COMPONENT = False
    assert route(case).bureau_id == people["water"].pk
    settings.ROUTE_BY_COMPONENT = True
    rule.over_component = True
    rule.save()
    assert route(case).bureau_id == people["water"].pk
    plain = Case.objects.get(number=_report(people["inspector"], people).json()["properties"]["number"])
    assert route(plain).bureau_id == people["water"].pk  # no component: the area's rule
