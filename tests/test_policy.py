"""Access control: every URL has a declared policy, and each role gets what the policy says."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from citygrid.policy import policy_for
from tests.conftest import api_client, make_user


def _names(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _names(p.url_patterns, prefix + (f"{p.namespace}:" if p.namespace else ""))
        elif isinstance(p, URLPattern):
            yield prefix + p.name if p.name else f"{prefix}<unnamed {p.pattern}>"


def test_every_url_has_a_declared_policy():
    undeclared = sorted({n for n in _names(get_resolver().url_patterns) if policy_for(n) is None})
    assert undeclared == []


ROLES = ["inspector", "operator", "dispatcher", "bureau_staff", "leader", "admin", "secadmin", "auditor"]


@pytest.fixture
def by_role(people):
    from citygrid import roles

    return {"inspector": people["inspector"], "operator": people["operator"], "dispatcher": people["dispatcher"],
            "bureau_staff": people["cg_staff"], "leader": people["leader"],
            "admin": make_user("sysadmin", roles.ADMIN), "secadmin": make_user("secadmin", roles.SECADMIN),
            "auditor": make_user("auditor", roles.AUDITOR)}


OPS = set(ROLES) - {"secadmin", "auditor"}  # the security administrator and the auditor see no cases
PERIOD = {"dimension": "bureau", "start": "2026-11-01", "end": "2026-12-01"}

# (method, url name, args, body, {role: the status it gets}); roles not listed get 403. Each status is the one
# the endpoint answers that role with this input: a 404 or a 400 where 200 was due would fail.
MATRIX = [
    ("get", "grids:area-list", [], None, dict.fromkeys(OPS, 200)),
    ("get", "grids:locate", [], {"lon": 112.885, "lat": 27.883}, dict.fromkeys(OPS, 200)),
    ("get", "assets:component-list", [], {"bbox": "112.88,27.88,112.89,27.89", "zoom": 17},
     dict.fromkeys(OPS - {"admin"}, 200)),
    ("get", "assets:pipe-under", [], {"lon": 112.885, "lat": 27.883}, dict.fromkeys(OPS - {"admin", "inspector"}, 200)),
    ("get", "assets:component-nearest", [], {"lon": 112.885, "lat": 27.883, "subclass": "BJ0108"},
     dict.fromkeys(OPS - {"admin"}, 200)),
    ("get", "incidents:case-list", [], None, dict.fromkeys(OPS, 200)),
    ("post", "incidents:case-list", [], {}, dict.fromkeys(["inspector", "operator", "dispatcher"], 400)),
    ("get", "incidents:case-export", [], None, dict.fromkeys(["operator", "dispatcher", "leader"], 200)),
    ("get", "incidents:verification-tasks", [], None, {"inspector": 200}),
    ("get", "dispatch:events", [], None, dict.fromkeys(["operator", "dispatcher", "leader", "bureau_staff"], 200)),
    ("get", "dispatch:bureau-queue", [], None, {"bureau_staff": 200}),
    ("get", "dispatch:unit-list", [], None, {"dispatcher": 200, "bureau_staff": 200}),
    ("post", "dispatch:unit-list", [], {}, {"dispatcher": 400, "bureau_staff": 400}),
    ("get", "dispatch:evaluation", [], PERIOD, {"leader": 200, "dispatcher": 200}),
    ("post", "dispatch:unit-position", ["CG-9"], {"lon": 112.9, "lat": 27.9}, {"dispatcher": 204, "bureau_staff": 204}),
    ("get", "audit-trail", [], None, {"auditor": 200}),
    ("get", "frontend:map", [], None, dict.fromkeys(OPS, 200)),
    ("get", "frontend:inspector", [], None, {"inspector": 200}),
    ("get", "frontend:console", [], None, {"dispatcher": 200, "operator": 200}),
    ("get", "frontend:dashboard", [], None, {"dispatcher": 200, "leader": 200}),
    ("get", "frontend:bureau", [], None, {"bureau_staff": 200}),
    ("get", "frontend:unit", [], None, {"bureau_staff": 200}),
    # the hotline desk (issue 22, part B)
    ("get", "frontend:hotline", [], None, {"dispatcher": 200, "operator": 200}),
    ("get", "incidents:duplicates", [], {"lon": 112.885, "lat": 27.883, "category": "SJ0102"},
     dict.fromkeys(["inspector", "operator", "dispatcher"], 200)),
    ("get", "incidents:caller-cases", [], {"phone": "13900000000"}, {"operator": 200, "dispatcher": 200}),
    ("get", "incidents:callbacks", [], None, {"operator": 200, "dispatcher": 200}),
    ("get", "grids:places", [], {"q": "和平"}, dict.fromkeys(OPS, 200)),
    ("get", "frontend:bulletin", [], PERIOD, {"dispatcher": 200, "leader": 200}),
    ("get", "dispatch:bulletin", [], PERIOD, {"dispatcher": 200, "leader": 200}),
    ("get", "dispatch:bulletins", [], None, {"dispatcher": 200, "leader": 200}),
    # lifeline monitoring (issue 16)
    ("get", "monitoring:sensor-list", [], None,
     dict.fromkeys(["operator", "dispatcher", "leader", "bureau_staff"], 200)),
    ("get", "monitoring:alarm-summary", [], PERIOD, {"leader": 200, "dispatcher": 200}),
]


@pytest.fixture
def unit(people):
    from dispatch.models import ResponseUnit

    return ResponseUnit.objects.create(code="CG-9", name="雨湖城管九队", bureau=people["cg"])


@pytest.mark.parametrize(("method", "name", "args", "body", "expected"), MATRIX,
                         ids=[f"{m} {n}" for m, n, *_ in MATRIX])
def test_role_by_endpoint(by_role, unit, method, name, args, body, expected):
    for role, user in by_role.items():
        client = api_client(user)
        if not name.startswith(("grids:", "incidents:", "dispatch:", "monitoring:")):  # pages: a logged-in browser
            client.force_login(user)
        url = reverse(name, args=args)
        response = client.get(url, body or {}) if method == "get" else client.post(url, body or {}, format="json")
        assert response.status_code == expected.get(role, 403), (role, name, response.status_code)


def test_objects_outside_the_scope_are_404(people):
    from incidents import intake
    from tests.conftest import point_in

    lon, lat = point_in(people["a"])
    case = intake.submit(intake.Report(lon=lon, lat=lat, category="SJ0601", source="hotline_12345")).case
    url = reverse("incidents:case-detail", args=[case.number])
    assert api_client(people["dispatcher"]).get(url).status_code == 200  # the city's centre
    assert api_client(people["east_dispatcher"]).get(url).status_code == 404  # another district
    assert api_client(people["cg_staff"]).get(url).status_code == 404  # not dispatched to this bureau
    assert api_client(people["other_inspector"]).get(url).status_code == 404  # not his cells


def test_anonymous_gets_only_the_public_endpoints(client, people):
    assert client.get(reverse("healthz")).status_code == 200
    assert client.get("/open311/v2/services.json").status_code == 200
    icon = client.get("/favicon.ico")  # what a browser asks for on a JSON answer opened in a tab
    assert icon.status_code == 302 and icon["Location"].endswith(".svg")
    for name in ("grids:area-list", "incidents:case-list", "dispatch:events", "api-schema"):
        assert client.get(reverse(name)).status_code in (401, 403), name
    assert client.get(reverse("frontend:home")).status_code == 302
    assert client.get(reverse("frontend:map")).status_code == 302
    for name in ("frontend:report", "frontend:public-map", "frontend:track-lookup", "public:cases",
                 "public:catalogue"):  # the public's own pages and endpoints (issue 22, part B)
        assert client.get(reverse(name)).status_code == 200, name
    assert client.get(reverse("frontend:hotline")).status_code == 302
    for name in ("incidents:duplicates", "incidents:callbacks", "grids:places"):
        assert client.get(reverse(name)).status_code in (401, 403), name


def test_operators_land_on_the_hotline_desk(client, people):
    client.force_login(people["operator"])
    assert client.get(reverse("frontend:home"))["Location"] == reverse("frontend:hotline")
    page = client.get(reverse("frontend:hotline")).content.decode()
    assert "来电受理" in page and reverse("frontend:console") in page  # and the console stays one click away
