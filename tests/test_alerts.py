"""Early warning (预警): issue, update and cancel with their log; every CAP document valid against OASIS's CAP 1.2
schema (checked here with xmlschema, independently of the product's own check), updates and cancels referencing
the original; the Atom index of the warnings in force; drills never published nor counted; the scopes."""

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
import xmlschema
from django.db import connection, transaction
from django.db.utils import ProgrammingError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from alerts import cap, rules
from alerts.models import EarlyWarning, WarningLog
from citygrid import roles
from tests.conftest import api_client, make_user

NS = {"cap": cap.CAP_NS, "atom": cap.ATOM_NS}
SCHEMA = xmlschema.XMLSchema(str(cap.SCHEMA_PATH))


def square(x0, y0, d=0.02) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + d, y0], [x0 + d, y0 + d], [x0, y0 + d], [x0, y0]]]}


def body(**over) -> dict:
    data = {"type": "rainstorm", "level": "red", "headline": "湘潭市暴雨红色预警",
            "description": "预计未来3小时城区降雨量将达100毫米以上。",
            "instruction": "停止集会、停课、停业；低洼地区人员转移。",
            "area": square(112.82, 27.82), "expires": (timezone.now() + timedelta(hours=12)).isoformat()}
    return {**data, **over}


def parsed(xml: str) -> ET.Element:
    SCHEMA.validate(xml)  # raises with the reason when the document is not valid CAP 1.2
    return ET.fromstring(xml.encode())


def issue(user, **over):
    response = api_client(user).post(reverse("alerts:warning-list"), body(**over), format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture(autouse=True)
def warning_types(db):
    """The shipped warning types, which a transactional test run before (a flush) may have taken away."""
    from alerts.models import WarningType
    from alerts.warning_types import load_types

    if not WarningType.objects.exists():
        load_types()


@pytest.fixture
def west_dispatcher(people):
    return make_user("disp_west", roles.DISPATCHER, district=people["west"])


def test_issue_update_cancel_each_logged_each_a_valid_cap_document_referencing_the_original(people):
    city = people["dispatcher"]
    client = api_client(city)
    issued = issue(city)
    assert issued["level"] == "red" and issued["in_force"] and issued["area_desc"] == "雨湖区"  # from the districts
    pk = issued["id"]
    up = client.post(reverse("alerts:warning-update", args=[pk]),
                     {"version": 1, "level": "orange", "note": "雨势减弱", "area": square(112.82, 27.82, 0.03)},
                     format="json")
    assert up.status_code == 200, up.content
    assert up.json()["level"] == "orange" and up.json()["version"] == 2
    gone = client.post(reverse("alerts:warning-cancel", args=[pk]), {"version": 2, "note": "降雨已结束"}, format="json")
    assert gone.status_code == 200 and gone.json()["state"] == "cancelled" and not gone.json()["in_force"]

    log = list(WarningLog.objects.filter(warning_id=pk).order_by("seq"))
    assert [e.action for e in log] == ["issue", "update", "cancel"]
    assert all(e.actor == city for e in log)
    assert log[1].changes["level"] == ["red", "orange"] and log[1].changes["direction"] == "down"
    docs = [parsed(e.cap_xml) for e in log]
    assert [d.findtext("cap:msgType", namespaces=NS) for d in docs] == ["Alert", "Update", "Cancel"]
    assert {d.findtext("cap:status", namespaces=NS) for d in docs} == {"Actual"}
    identifiers = [d.findtext("cap:identifier", namespaces=NS) for d in docs]
    assert len(set(identifiers)) == 3 and identifiers == [e.identifier for e in log]
    sender = docs[0].findtext("cap:sender", namespaces=NS)
    original = f"{sender},{identifiers[0]},{docs[0].findtext('cap:sent', namespaces=NS)}"
    assert docs[0].find("cap:references", NS) is None
    assert docs[1].findtext("cap:references", namespaces=NS) == original
    assert docs[2].findtext("cap:references", namespaces=NS).split(" ")[0] == original
    assert len(docs[2].findtext("cap:references", namespaces=NS).split(" ")) == 2
    info = docs[0].find("cap:info", NS)
    assert info.findtext("cap:event", namespaces=NS) == "暴雨"
    assert info.findtext("cap:severity", namespaces=NS) == "Extreme"
    assert docs[1].find("cap:info/cap:severity", NS).text == "Severe"
    assert docs[2].find("cap:info/cap:responseType", NS).text == "AllClear"
    for d in docs:
        for tag in ("cap:sent", "cap:info/cap:effective", "cap:info/cap:expires"):
            assert d.findtext(tag, namespaces=NS)[-6:] == "+08:00"  # local time with its offset, as CAP requires
    ring = info.findtext("cap:area/cap:polygon", namespaces=NS).split(" ")
    assert ring[0] == ring[-1] and len(ring) == 5 and ring[0] == "27.820000,112.820000"  # lat,lon
    assert info.findtext("cap:area/cap:areaDesc", namespaces=NS) == "雨湖区"
    assert info.findtext("cap:area/cap:geocode/cap:value", namespaces=NS) == "430302"
    # The documents are the ones published: the same bytes from the public URL.
    response = Client().get(reverse("warnings-public:cap", args=[identifiers[1]]))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/cap+xml")
    assert response.content.decode() == log[1].cap_xml


@pytest.mark.django_db(transaction=True)
def test_the_log_is_append_only_in_the_database(people):
    """The runtime role is granted no UPDATE or DELETE on it; the owner, who has every right, is held by the trigger."""
    import psycopg2

    from citygrid import dbroles

    pk = issue(people["dispatcher"])["id"]
    for statement in ("UPDATE alerts_warninglog SET note = 'x' WHERE warning_id = %s",
                      "DELETE FROM alerts_warninglog WHERE warning_id = %s"):
        with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic(), \
                connection.cursor() as cur:
            cur.execute(statement, [pk])
    conn = dbroles.connect(dbroles.OWNER)
    try:
        with conn.cursor() as cur:
            for statement in ("UPDATE alerts_warninglog SET note = 'x' WHERE warning_id = %s",
                              "DELETE FROM alerts_warninglog WHERE warning_id = %s"):
                cur.execute("SAVEPOINT s")
                with pytest.raises(psycopg2.Error, match="append-only"):
                    cur.execute(statement, [pk])
                cur.execute("ROLLBACK TO SAVEPOINT s")
        conn.rollback()
    finally:
        conn.close()
    assert WarningLog.objects.filter(warning_id=pk).count() == 1


def test_the_product_refuses_a_document_the_schema_refuses():
    with pytest.raises(cap.CapError):
        cap.check(f'<alert xmlns="{cap.CAP_NS}"><identifier>x</identifier></alert>')
    bad_polygon = (f'<alert xmlns="{cap.CAP_NS}"><identifier>a</identifier><sender>s</sender>'
                   "<sent>2026-11-26T10:00:00+08:00</sent><status>Actual</status><msgType>Alert</msgType>"
                   "<scope>Public</scope><info><category>Met</category><event>e</event><urgency>Expected</urgency>"
                   "<severity>Minor</severity><certainty>Likely</certainty><area><areaDesc>d</areaDesc>"
                   "<polygon>27.8,112.8 27.9,112.8 27.9,112.9</polygon></area></info></alert>")
    SCHEMA.validate(bad_polygon)  # the schema lets a bare string through…
    with pytest.raises(cap.CapError, match="closed"):  # …the product's check does not
        cap.check(bad_polygon)


def _feed(client=None) -> ET.Element:
    response = (client or Client()).get(reverse("warnings-public:feed"))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/atom+xml")
    return ET.fromstring(response.content)


def test_atom_feed_lists_the_warnings_in_force_with_their_latest_cap_document(people):
    city = people["dispatcher"]
    red = issue(city)
    blue = issue(city, level="blue", type="fog", headline="大雾蓝色预警", area=square(112.92, 27.82))
    api_client(city).post(reverse("alerts:warning-update", args=[red["id"]]),
                          {"version": 1, "headline": "暴雨红色预警（更新）"}, format="json")
    feed = _feed()
    assert feed.tag == f"{{{cap.ATOM_NS}}}feed"
    assert feed.findtext("atom:id", namespaces=NS) and feed.findtext("atom:updated", namespaces=NS)
    entries = feed.findall("atom:entry", NS)
    assert len(entries) == 2
    by_title = {e.findtext("atom:title", namespaces=NS): e for e in entries}
    entry = by_title["[红色] 暴雨红色预警（更新）"]
    link = entry.find("atom:link[@type='application/cap+xml']", NS).get("href")
    document = Client().get(link.replace("http://testserver", ""))
    root = parsed(document.content.decode())
    assert root.findtext("cap:msgType", namespaces=NS) == "Update"  # the latest document of the warning
    assert entry.find("atom:category", NS).get("term") == "red"
    # cancelled: out of the feed
    api_client(city).post(reverse("alerts:warning-cancel", args=[blue["id"]]), {"version": 1, "note": "雾已消散"},
                          format="json")
    assert len(_feed().findall("atom:entry", NS)) == 1
    # expired: out too
    EarlyWarning.objects.filter(pk=red["id"]).update(effective=timezone.now() - timedelta(hours=3),
                                                     expires=timezone.now() - timedelta(minutes=1))
    assert _feed().findall("atom:entry", NS) == []


def test_a_drill_goes_through_the_same_flows_and_is_never_published_nor_counted(people):
    city = people["dispatcher"]
    client = api_client(city)
    drill = issue(city, exercise=True, headline="暴雨红色预警（演练）")
    real = issue(city, level="yellow")
    entry = WarningLog.objects.get(warning_id=drill["id"])
    assert parsed(entry.cap_xml).findtext("cap:status", namespaces=NS) == "Exercise"
    # not in the public list, the feed, nor as a public CAP document
    public = Client().get(reverse("warnings-public:in-force")).json()
    assert [f["id"] for f in public["features"]] == [real["id"]]
    assert len(_feed().findall("atom:entry", NS)) == 1
    assert Client().get(reverse("warnings-public:cap", args=[entry.identifier])).status_code == 404
    # the centre sees it, marked, and reads its document; the figures leave it out
    listed = client.get(reverse("alerts:warning-list"), {"state": "in_force"}).json()
    assert {w["id"]: w["exercise"] for w in listed["results"]} == {drill["id"]: True, real["id"]: False}
    assert listed["figures"] == {"blue": 0, "yellow": 1, "orange": 0, "red": 0}
    staff_doc = client.get(reverse("alerts:warning-cap", args=[drill["id"], 1]))
    assert staff_doc.status_code == 200 and b"<status>Exercise</status>" in staff_doc.content
    # same flows: update and cancel, each an Exercise document referencing the original
    client.post(reverse("alerts:warning-update", args=[drill["id"]]), {"version": 1, "level": "orange"}, format="json")
    client.post(reverse("alerts:warning-cancel", args=[drill["id"]]), {"version": 2, "note": "演练结束"}, format="json")
    docs = [parsed(e.cap_xml) for e in WarningLog.objects.filter(warning_id=drill["id"]).order_by("seq")]
    assert [d.findtext("cap:status", namespaces=NS) for d in docs] == ["Exercise"] * 3
    assert all(entry.identifier in d.findtext("cap:references", namespaces=NS) for d in docs[1:])


def test_scopes_city_centre_district_centre_leader(people, west_dispatcher):
    east = people["east_dispatcher"]
    west_warning = issue(west_dispatcher)  # within 雨湖区
    city_warning = issue(people["dispatcher"], area=square(112.85, 27.83, 0.1))  # across both districts
    assert EarlyWarning.objects.get(pk=west_warning["id"]).district == people["west"]
    assert EarlyWarning.objects.get(pk=city_warning["id"]).district is None
    # the east district's centre: neither reads nor changes the west's warning (404, as if it did not exist)
    client = api_client(east)
    for url, method in ((reverse("alerts:warning-detail", args=[west_warning["id"]]), "get"),
                        (reverse("alerts:warning-update", args=[west_warning["id"]]), "post"),
                        (reverse("alerts:warning-cancel", args=[west_warning["id"]]), "post"),
                        (reverse("alerts:warning-cap", args=[west_warning["id"], 1]), "get")):
        assert getattr(client, method)(url, {"version": 1, "note": "x"}, format="json").status_code == 404, url
    listed = client.get(reverse("alerts:warning-list")).json()["results"]
    assert [w["id"] for w in listed] == [city_warning["id"]]  # the city's warning, read-only
    assert listed[0]["can_change"] is False
    # ... and reads the city's without the right to change it: refused (403) before its input is even looked at
    for url in ("alerts:warning-cancel", "alerts:warning-update"):
        refused = client.post(reverse(url, args=[city_warning["id"]]),
                              {"version": 1, "note": "x", "area": square(112.85, 27.83, 0.1)}, format="json")
        assert refused.status_code == 403 and refused.json()["detail"]
    assert EarlyWarning.objects.get(pk=city_warning["id"]).state == "active"
    assert EarlyWarning.objects.get(pk=city_warning["id"]).version == 1
    # a district's centre warns within its district only
    outside = client.post(reverse("alerts:warning-list"), body(area=square(112.82, 27.82)), format="json")
    assert outside.status_code == 400 and "area" in outside.json()
    # the city's centre may change a district's warning; leaders read, never write
    assert api_client(people["dispatcher"]).post(reverse("alerts:warning-update", args=[west_warning["id"]]),
                                                 {"version": 1, "headline": "更新"}, format="json").status_code == 200
    leader = api_client(people["leader"])
    assert leader.get(reverse("alerts:warning-detail", args=[west_warning["id"]])).status_code == 200
    assert leader.post(reverse("alerts:warning-list"), body(), format="json").status_code == 403
    lead_east = api_client(make_user("lead_east", roles.LEADER, district=people["east"]))
    assert lead_east.get(reverse("alerts:warning-detail", args=[west_warning["id"]])).status_code == 404
    for other in ("inspector", "operator", "cg_staff"):
        assert api_client(people[other]).get(reverse("alerts:warning-list")).status_code == 403


@pytest.mark.parametrize(("over", "field"), [
    ({"level": "purple"}, "level"),
    ({"type": "nonsense"}, "type"),
    ({"headline": ""}, "headline"),
    ({"area": {"type": "Point", "coordinates": [112.8, 27.8]}}, "area"),
    ({"area": "not geojson"}, "area"),
    ({"area": {"type": "Polygon", "coordinates": [[[112.82, 27.82], [112.86, 27.82], [112.86, 27.86], [112.82, 27.86],
                                                   [112.82, 27.82]], [[112.83, 27.83], [112.84, 27.83], [112.84, 27.84],
                                                                      [112.83, 27.83]]]}}, "area"),  # a hole
    ({"area": {"type": "Polygon", "coordinates": [[[112.82, 27.82], [112.86, 27.86], [112.86, 27.82], [112.82, 27.86],
                                                   [112.82, 27.82]]]}}, "area"),  # a bow tie
    ({"area": square(120.0, 30.0)}, "area"),  # outside the city
    ({"expires": (timezone.now() - timedelta(hours=1)).isoformat()}, "expires"),
    ({"expires": (timezone.now() + timedelta(days=40)).isoformat()}, "expires"),
    ({"expires": "tomorrow"}, "expires"),
    ({"effective": (timezone.now() - timedelta(days=2)).isoformat()}, "effective"),
    ({"description": "bad\x00text"}, "description"),
])
def test_bad_input_is_a_400_with_the_field(people, over, field):
    response = api_client(people["dispatcher"]).post(reverse("alerts:warning-list"), body(**over), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not EarlyWarning.objects.exists()


def test_a_stale_version_is_a_409_and_changes_nothing(people):
    city = people["dispatcher"]
    pk = issue(city)["id"]
    client = api_client(city)
    assert client.post(reverse("alerts:warning-update", args=[pk]), {"version": 1, "level": "orange"},
                       format="json").status_code == 200
    stale = client.post(reverse("alerts:warning-cancel", args=[pk]), {"version": 1, "note": "x"}, format="json")
    assert stale.status_code == 409
    assert EarlyWarning.objects.get(pk=pk).state == "active"
    assert client.post(reverse("alerts:warning-update", args=[pk]), {"version": 2}, format="json").status_code == 400
    assert client.post(reverse("alerts:warning-cancel", args=[pk]), {"version": 2}, format="json").status_code == 400
    # cancelled: neither updated nor cancelled again
    assert client.post(reverse("alerts:warning-cancel", args=[pk]), {"version": 2, "note": "结束"},
                       format="json").status_code == 200
    again = client.post(reverse("alerts:warning-update", args=[pk]), {"version": 3, "level": "red"}, format="json")
    assert again.status_code == 400 and WarningLog.objects.filter(warning_id=pk).count() == 3


def test_public_endpoints_are_rate_limited_per_address(people, settings):
    settings.PUBLIC_READ_RATE = "3/m"
    client = Client()
    statuses = [client.get(reverse("warnings-public:feed")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.get(reverse("frontend:public-warnings")).status_code == 429  # the same count as the page's


def test_in_force_and_published_rules(people):
    city = people["dispatcher"]
    later = issue(city, effective=(timezone.now() + timedelta(hours=2)).isoformat())
    assert rules.published().filter(pk=later["id"]).exists()  # announced ahead: in force until it expires
    assert EarlyWarning.objects.get(pk=later["id"]).in_force()


def test_the_demo_warning_is_a_valid_yellow_rainstorm_over_the_district_added_once(people):
    from alerts.demo import load_demo_warning

    make_user("dispatcher_yuhu", roles.DISPATCHER, district=people["west"])
    assert "added" in load_demo_warning()
    warning = EarlyWarning.objects.get()
    assert (warning.level, warning.type.name, warning.district, warning.exercise) == ("yellow", "暴雨", people["west"],
                                                                                       False)
    assert people["west"].geom.covers(warning.area)
    parsed(warning.log.get().cap_xml)
    assert "already" in load_demo_warning() and EarlyWarning.objects.count() == 1
