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

# (method, url name, args, body) → the roles that get through (others: 403)
MATRIX = [
    ("get", "grids:area-list", [], None, OPS),
    ("get", "grids:locate", [], {"lon": 112.885, "lat": 27.883}, OPS),
    ("get", "incidents:case-list", [], None, OPS),
    ("post", "incidents:case-list", [], {}, {"inspector", "operator", "dispatcher"}),
    ("get", "incidents:case-export", [], None, {"operator", "dispatcher", "leader"}),
    ("get", "incidents:verification-tasks", [], None, {"inspector"}),
    ("get", "dispatch:events", [], None, {"operator", "dispatcher", "leader"}),
    ("get", "dispatch:evaluation", [], {"dimension": "bureau", "start": "2026-11-01", "end": "2026-12-01"},
     {"leader", "dispatcher"}),
    ("post", "dispatch:unit-position", ["NOPE"], {"lon": 1, "lat": 1}, {"dispatcher", "bureau_staff"}),
    ("get", "audit-trail", [], None, {"auditor"}),
    ("get", "frontend:map", [], None, OPS),
    ("get", "frontend:inspector", [], None, {"inspector"}),
    ("get", "frontend:console", [], None, {"dispatcher", "operator"}),
    ("get", "frontend:dashboard", [], None, {"dispatcher", "leader"}),
    # the hotline desk (issue 22, part B)
    ("get", "frontend:hotline", [], None, {"dispatcher", "operator"}),
    ("get", "incidents:duplicates", [], {"lon": 112.885, "lat": 27.883, "category": "SJ0102"},
     {"inspector", "operator", "dispatcher"}),
    ("get", "incidents:caller-cases", [], {"phone": "13900000000"}, {"operator", "dispatcher"}),
    ("get", "incidents:callbacks", [], None, {"operator", "dispatcher"}),
    ("get", "grids:places", [], {"q": "和平"}, OPS),
]


@pytest.mark.parametrize(("method", "name", "args", "body", "allowed"), MATRIX,
                         ids=[f"{m} {n}" for m, n, *_ in MATRIX])
def test_role_by_endpoint(by_role, method, name, args, body, allowed):
    for role, user in by_role.items():
        client = api_client(user)
        if not name.startswith(("grids:", "incidents:", "dispatch:")):  # pages: a logged-in browser
            client.force_login(user)
        url = reverse(name, args=args)
        response = client.get(url, body or {}) if method == "get" else client.post(url, body or {}, format="json")
        if role in allowed:
            assert response.status_code not in (401, 403), (role, name, response.status_code)
        else:
            assert response.status_code == 403, (role, name, response.status_code)


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
