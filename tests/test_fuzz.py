"""Fuzzing the API from its own OpenAPI schema (schemathesis): for generated requests — valid ones and, in
negative mode, invalid ones — from a user of every role, no 5xx and every response matching the schema. Path
parameters reach real objects (a case, its photo, a unit and its assignment, a cell), and dates include
ones that parse but do not exist. Runs in-process through WSGI against the real PostGIS test database."""

import pytest
import schemathesis
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.wsgi import get_wsgi_application
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from citygrid import roles
from citygrid.models import ApiToken
from tests.conftest import jpeg, make_user, point_in

# Through the real WSGI handler, which closes and reopens database connections between requests as in
# production: that needs committed data.
pytestmark = pytest.mark.django_db(transaction=True)
EXAMPLES = 12

# Dates and times as the schema declares them, mixed with ones that parse but do not exist.
IMPOSSIBLE_DATES = ["2026-02-30", "0001-01-01", "9999-12-31", "2026-13-01"]
schemathesis.openapi.format("date", st.one_of(st.dates().map(str), st.sampled_from(IMPOSSIBLE_DATES)))
schemathesis.openapi.format("date-time", st.one_of(
    st.datetimes(timezones=st.just(timezone.get_fixed_timezone(480))).map(lambda d: d.isoformat()),
    st.sampled_from([d + "T10:00:00" for d in IMPOSSIBLE_DATES] + ["2026-11-26T25:00:00"])))


@pytest.fixture
def objects(people):
    from dispatch.emergency import send_units
    from dispatch.models import ResponseUnit
    from incidents import intake

    lon, lat = point_in(people["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0403", source="inspector", urgency="emergency",
                                       photos=[SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg")]),
                         reporter=people["inspector"]).case
    unit = ResponseUnit.objects.create(code="FZ-1", name="抢修", bureau=people["cg"],
                                       position=Point(lon, lat, srid=4326), position_at=timezone.now())
    [assignment] = send_units(case, [unit], people["dispatcher"])
    cell = people["a"].cells.order_by("code").first()
    return {"number": case.number, "photo": case.photos.first().pk, "assignment": assignment.pk,
            "unit": unit.code, "cell": cell.code, "area": people["a"].code}


def _path_parameters(path: str, objects: dict) -> dict:
    """Real objects for an operation's path parameters (the rest, such as `action`, are generated)."""
    known = {}
    if "{number}" in path:
        known["number"] = objects["number"]
    if "{pk}" in path:
        known["pk"] = objects["photo"] if "/photos/" in path else objects["assignment"]
    if "{code}" in path:
        known["code"] = {"/grids/cells/": objects["cell"], "/units/": objects["unit"]}.get(
            next((k for k in ("/grids/cells/", "/units/") if k in path), ""), objects["area"])
    return known


@pytest.mark.parametrize("role", roles.ALL_ROLES)
def test_no_server_errors_and_responses_match_the_schema(people, objects, role, settings):
    settings.FEED_STREAM_SECONDS, settings.FEED_POLL_SECONDS = 0.2, 0.1  # the event stream ends, and is fuzzed
    user = {roles.INSPECTOR: people["inspector"], roles.OPERATOR: people["operator"],
            roles.DISPATCHER: people["dispatcher"], roles.BUREAU_STAFF: people["cg_staff"],
            roles.LEADER: people["leader"]}.get(role) or make_user(f"fuzz_{role}", role)
    _, key = ApiToken.issue(user, "fuzz")
    auth = {"Authorization": f"Token {key}"}
    # The schema is not the security administrator's or the auditor's to read: they get the dispatcher's copy.
    reader = user if role not in (roles.SECADMIN, roles.AUDITOR) else people["dispatcher"]
    _, reader_key = ApiToken.issue(reader, "schema")
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(),
                                            headers={"Authorization": f"Token {reader_key}"})
    failures = []
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) > 15
    for operation in operations:
        known = _path_parameters(operation.path, objects)
        strategy = st.one_of(*(operation.as_strategy(generation_mode=mode, path_parameters=known or None)
                               for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)))

        @given(case=strategy)
        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call(headers=auth)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance,
                                                     status_code_conformance])

        try:
            run()
        except Exception as exc:  # collected so that one run reports every operation that fails
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)
