"""Open311 GeoReport v2 against the shapes of the specification's documented examples."""

from xml.etree import ElementTree as ET

import pytest

from incidents import intake
from incidents.models import Case, Status
from incidents.open311 import issue_client_key
from tests.conftest import point_in

BASE = "/open311/v2"
REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"}


@pytest.fixture
def key(people):
    return issue_client_key("市民通 app")[1]


def post(client, people, key, fmt="json", **kw):
    lon, lat = point_in(people["a"])
    data = {"api_key": key, "service_code": "SJ0102", "lat": lat, "long": lon, "address_string": "雨湖路 1 号",
            "email": "citizen@example.com", "first_name": "小明", "last_name": "王", "phone": "13900001111",
            "description": "路口有一堆垃圾", "attribute[urgency]": "urgent"} | kw
    return client.post(f"{BASE}/requests.{fmt}", data)


def test_services_json_and_xml(client, people):
    body = client.get(f"{BASE}/services.json").json()
    service = next(s for s in body if s["service_code"] == "SJ0102")
    assert set(service) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
    assert service["service_name"] == "暴露垃圾" and service["type"] == "realtime" and service["metadata"] is True
    xml = ET.fromstring(client.get(f"{BASE}/services.xml").content)
    assert xml.tag == "services" and xml.find("service/service_code") is not None
    assert {s.findtext("service_code") for s in xml.findall("service")} == {s["service_code"] for s in body}


def test_service_definition(client, people):
    body = client.get(f"{BASE}/services/SJ0403.json").json()
    attribute = body["attributes"][0]
    assert body["service_code"] == "SJ0403"
    assert attribute["datatype"] == "singlevaluelist" and attribute["code"] == "urgency"
    assert {v["key"] for v in attribute["values"]} == {"emergency", "urgent"}
    xml = ET.fromstring(client.get(f"{BASE}/services/SJ0403.xml").content)
    assert xml.tag == "service_definition"
    assert xml.find("attributes/attribute/values/value/key") is not None
    missing = client.get(f"{BASE}/services/XX.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404


def test_post_request_then_read_it_back(client, people, key):
    response = post(client, people, key)
    assert response.status_code == 200
    created = response.json()
    assert len(created) == 1 and set(created[0]) == {"service_request_id", "service_notice", "account_id"}
    number = created[0]["service_request_id"]
    case = Case.objects.get(number=number)
    assert (case.source, case.urgency, case.contact_phone) == ("open311", "urgent", "13900001111")
    one = client.get(f"{BASE}/requests/{number}.json").json()
    assert len(one) == 1 and set(one[0]) == REQUEST_FIELDS
    assert one[0]["status"] == "open" and one[0]["service_code"] == "SJ0102"
    # No personal data in public output.
    text = client.get(f"{BASE}/requests/{number}.json").content.decode() + client.get(
        f"{BASE}/requests.xml").content.decode()
    for secret in ("13900001111", "citizen@example.com", "小明"):
        assert secret not in text


def test_post_xml_and_errors(client, people, key):
    xml = ET.fromstring(post(client, people, key, fmt="xml").content)
    assert xml.tag == "service_requests" and xml.findtext("request/service_request_id")
    bad_key = post(client, people, "wrong")
    assert bad_key.status_code == 403 and bad_key.json() == [{"code": 403, "description": "invalid api_key"}]
    outside = post(client, people, key, lat=39.9, long=116.4)
    assert outside.status_code == 400 and outside.json()[0]["code"] == 400
    unknown = post(client, people, key, fmt="xml", service_code="NOPE")
    error = ET.fromstring(unknown.content)
    assert unknown.status_code == 404 and error.tag == "errors" and error.findtext("error/code") == "404"
    not_number = post(client, people, key, lat="north")
    assert not_number.status_code == 400
    assert Case.objects.count() == 1


def test_get_requests_with_the_specs_filters(client, people, key):
    a = post(client, people, key).json()[0]["service_request_id"]
    b = post(client, people, key, service_code="SJ0501").json()[0]["service_request_id"]
    Case.objects.filter(number=b).update(status=Status.CLOSED)
    everything = client.get(f"{BASE}/requests.json").json()
    assert {r["service_request_id"] for r in everything} == {a, b}
    assert [r["service_request_id"] for r in client.get(f"{BASE}/requests.json?status=open").json()] == [a]
    assert [r["service_request_id"] for r in client.get(f"{BASE}/requests.json?service_code=SJ0501").json()] == [b]
    both = client.get(f"{BASE}/requests.json?service_request_id={a},{b}").json()
    assert len(both) == 2
    assert client.get(f"{BASE}/requests.json?start_date=2099-01-01T00:00:00Z").json() == []
    assert client.get(f"{BASE}/requests.json?start_date=yesterday").status_code == 400
    assert client.get(f"{BASE}/requests/NOPE.xml").status_code == 404


def test_jurisdiction_and_tokens(client, people, key):
    number = post(client, people, key).json()[0]["service_request_id"]
    token = str(Case.objects.get(number=number).client_uuid)
    assert client.get(f"{BASE}/tokens/{token}.json").json() == [{"service_request_id": number, "token": token}]
    staff = intake.submit(intake.Report(lon=Case.objects.get(number=number).location.x,
                                        lat=Case.objects.get(number=number).location.y, category="SJ0601",
                                        source="inspector"), reporter=people["inspector"]).case
    assert client.get(f"{BASE}/tokens/{staff.client_uuid}.json").status_code == 404  # not the public's
    assert client.get(f"{BASE}/services.json?jurisdiction_id=xiangtan.gov.cn").status_code == 200
    assert client.get(f"{BASE}/services.json?jurisdiction_id=elsewhere.gov").status_code == 404
    assert client.get(f"{BASE}/services.yaml").status_code == 404
