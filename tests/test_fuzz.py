"""Fuzzing the API from its own OpenAPI schema (schemathesis): for bounded generated requests, no 5xx and every
response matches the schema. Runs in-process through WSGI against the real PostGIS test database."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from citygrid.models import ApiToken

# Through the real WSGI handler, which closes and reopens database connections between requests as in
# production: that needs committed data.
pytestmark = pytest.mark.django_db(transaction=True)
EXAMPLES = 40
SKIP = ("/api/dispatch/stream/",)  # an endless event stream, checked by its own tests


@pytest.fixture
def fuzz_schema(people):
    _, key = ApiToken.issue(people["dispatcher"], "fuzz")
    auth = {"Authorization": f"Token {key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(), headers=auth)
    return schema, auth


def test_no_server_errors_and_responses_match_the_schema(fuzz_schema):
    schema, auth = fuzz_schema
    failures = []
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) > 15
    for operation in operations:
        if operation.path.startswith(SKIP):
            continue

        @given(case=operation.as_strategy())
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
