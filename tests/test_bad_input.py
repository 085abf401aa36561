"""Bad input gets a 400 naming the field, never a 500: the requests that answered 500 when the running server
was probed, then the same kinds of value (NUL characters, over-long texts, impossible dates, negative counts)
drawn by hypothesis against Open311 and the case API, for every role."""

import string

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from incidents import intake, lifecycle
from incidents.models import Case
from incidents.open311 import issue_client_key
from tests.conftest import api_client, point_in

BASE = "/open311/v2"


@pytest.fixture
def key(people):
    return issue_client_key("市民通 app")[1]


def _open311_post(client, people, key, **kw):
    lon, lat = point_in(people["a"])
    data = {"api_key": key, "service_code": "SJ0102", "lat": lat, "long": lon, "description": "路口有垃圾"} | kw
    return client.post(f"{BASE}/requests.json", data)


@pytest.mark.parametrize("query", ["start_date=2026-02-30T00:00:00", "end_date=0001-01-01T00:00:00",
                                   "start_date=9999-12-31T23:59:59", "end_date=2026-13-01T00:00:00"])
def test_open311_impossible_dates(client, people, query):
    response = client.get(f"{BASE}/requests.json?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()[0]["description"]


@pytest.mark.parametrize(("field", "value", "named"), [
    ("phone", "1" * 40, "phone"), ("first_name", "名" * 60, "first_name/last_name"),
    ("email", "a" * 290 + "@example.cn", "email"), ("email", "not-an-address", "email"),
    ("description", "a\x00b", "description"), ("address_string", "路" * 201, "address_string"),
])
def test_open311_fields_too_long_or_malformed(client, people, key, field, value, named):
    response = _open311_post(client, people, key, **{field: value})
    assert response.status_code == 400, response.content
    assert named in response.json()[0]["description"]
    assert not Case.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"description": "a\u0000b"}, "description"), ({"contact_phone": "1" * 31}, "contact_phone"),
    ({"contact_name": "名" * 51}, "contact_name"), ({"contact_email": "nobody"}, "contact_email"),
    ({"address": "\x00"}, "address"), ({"accuracy_m": -5}, "accuracy_m"),
])
def test_case_report_fields(people, body, field):
    lon, lat = point_in(people["a"])
    response = api_client(people["operator"]).post(reverse("incidents:case-list"), {
        "lon": lon, "lat": lat, "category": "SJ0601", **body}, format="json")
    assert response.status_code == 400 and field in response.json(), response.content


def test_a_nul_in_a_query_or_a_form_is_refused_at_the_door(people, client):
    token = api_client(people["dispatcher"])
    response = token.get(reverse("incidents:case-list"), {"category": "SJ\x0001"})
    assert response.status_code == 400 and "category" in response.json()
    response = client.post(f"{BASE}/requests.json", {"api_key": "x", "description": "a\x00b"})
    assert response.status_code == 400 and "description" in response.json()[0]["description"]


@pytest.fixture
def in_progress(people):
    lon, lat = point_in(people["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="hotline_12345")).case
    case = lifecycle.register(case, people["dispatcher"])
    case = lifecycle.dispatch(case, people["dispatcher"], bureau=people["cg"])
    return lifecycle.accept(case, people["cg_staff"])


@pytest.mark.parametrize("until", ["2026-02-30T10:00:00", "0001-01-01T00:00:00", "tomorrow", "2026-11-26T25:00:00"])
def test_postponement_with_an_impossible_time(people, in_progress, until):
    response = api_client(people["cg_staff"]).post(
        reverse("incidents:case-action", args=[in_progress.number, "request_postponement"]),
        {"until": until, "reason": "材料未到"}, format="json")
    assert response.status_code == 400 and "until" in response.json()


@pytest.mark.parametrize("limit", ["-1", "0", "51", "x"])
def test_nearest_units_limit(people, in_progress, limit):
    response = api_client(people["dispatcher"]).get(reverse("dispatch:nearest-units", args=[in_progress.number]),
                                                    {"limit": limit})
    assert response.status_code == 400 and "limit" in response.json()


# Values of the kinds that broke the server: NUL and control characters, texts at and past every limit,
# dates that parse but do not exist, numbers out of range.
hostile_text = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=80),
    st.builds(lambda n, c: c * n, st.integers(0, 400), st.sampled_from(["a", "名", "\x00", "1", " "])),
    st.sampled_from(["=HYPERLINK(\"http://x\")", "\x00", "a\x00b", "", " ", "<x/>", "../../etc/passwd"]))
hostile_date = st.one_of(
    st.sampled_from(["2026-02-30T00:00:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59", "2026-11-26T24:00:00",
                     "2026-11-26", "-1", ""]),
    st.text(alphabet=string.digits + "-T:+Z.", max_size=30))
hostile_number = st.one_of(st.sampled_from(["-1", "0", "1e309", "nan", "-0", "99999999999999999999", ""]),
                           st.integers(-10**12, 10**12).map(str))
EXAMPLES = hypothesis_settings(max_examples=60, deadline=None, database=None, derandomize=True,
                               suppress_health_check=list(HealthCheck))


def test_open311_never_answers_500(client, people, key):
    lon, lat = point_in(people["a"])

    @given(fields=st.fixed_dictionaries({}, optional={
        "description": hostile_text, "address_string": hostile_text, "phone": hostile_text,
        "first_name": hostile_text, "last_name": hostile_text, "email": hostile_text,
        "attribute[urgency]": hostile_text, "service_code": st.one_of(hostile_text, st.just("SJ0102")),
        "lat": st.one_of(hostile_number, st.just(str(lat))), "long": st.one_of(hostile_number, st.just(str(lon)))}),
        query=st.fixed_dictionaries({}, optional={"start_date": hostile_date, "end_date": hostile_date,
                                                  "status": hostile_text, "service_code": hostile_text,
                                                  "service_request_id": hostile_text}))
    @EXAMPLES
    def run(fields, query):
        from django.core.cache import cache

        cache.clear()  # the rate limit is not what this checks
        assert client.post(f"{BASE}/requests.json", {"api_key": key, **fields}).status_code < 500
        assert client.get(f"{BASE}/requests.json", query).status_code < 500

    run()


PEOPLE_BY_ROLE = {"inspector": "inspector", "operator": "operator", "dispatcher": "dispatcher",
                  "bureau_staff": "cg_staff", "leader": "leader"}
ROLE_ACTIONS = sorted({(role, "verify" if action.startswith("verify") else action)
                       for action, rule in lifecycle.RULES.items() for role in rule.roles if role in PEOPLE_BY_ROLE})


@pytest.mark.parametrize("role", sorted(PEOPLE_BY_ROLE))
def test_reports_never_answer_500(people, in_progress, role):
    token = api_client(people[PEOPLE_BY_ROLE[role]])
    lon, lat = point_in(people["a"])

    @given(report=st.fixed_dictionaries({}, optional={
        "description": hostile_text, "address": hostile_text, "contact_name": hostile_text,
        "contact_phone": hostile_text, "contact_email": hostile_text, "category": hostile_text,
        "urgency": hostile_text, "source": hostile_text, "client_uuid": hostile_text,
        "accuracy_m": hostile_number, "lon": st.one_of(hostile_number, st.just(lon)),
        "lat": st.one_of(hostile_number, st.just(lat))}), limit=hostile_number)
    @EXAMPLES
    def run(report, limit):
        assert token.post(reverse("incidents:case-list"), report, format="json").status_code < 500
        assert token.get(reverse("dispatch:nearest-units", args=[in_progress.number]),
                         {"limit": limit}).status_code < 500

    run()


@pytest.mark.parametrize(("role", "action"), ROLE_ACTIONS, ids=[f"{r}-{a}" for r, a in ROLE_ACTIONS])
def test_case_actions_never_answer_500(people, in_progress, role, action):
    """Each action by each role that may take it, so that every field reaches the code that reads it."""
    token = api_client(people[PEOPLE_BY_ROLE[role]])
    url = reverse("incidents:case-action", args=[in_progress.number, action])

    @given(body=st.fixed_dictionaries({"until": hostile_date}, optional={
        "reason": hostile_text, "note": hostile_text, "version": hostile_number, "bureau": hostile_text,
        "into": hostile_text, "passed": hostile_text, "lon": hostile_number, "lat": hostile_number}))
    @hypothesis_settings(max_examples=25, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))
    def run(body):
        assert token.post(url, body, format="json").status_code < 500

    run()
