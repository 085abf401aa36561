"""Who may call what: one declared policy per URL name, read by a reviewer here and enforced for the API
by `PolicyPermission` and for pages by `PolicyPageMixin` (a URL without a policy is refused, and a test
fails on it).

Every URL that names an object declares the scope that object is looked up in (`scope`): the check runs
before the view does any work, and an object outside the caller's scope (another district's case, another
bureau's unit) answers 404 and is recorded. The lookups themselves belong to the apps that own the objects
(`citygrid.scopes.register`); a generated test calls every such URL as an out-of-scope user of every role
the policy lets through. Per-action rules for cases stay with the lifecycle (`incidents.lifecycle.RULES`)."""

from dataclasses import dataclass

from rest_framework.permissions import BasePermission

from . import roles, scopes
from .roles import user_roles

ANY_ROLE = frozenset(roles.OPERATIONAL_ROLES)  # not the security administrator, not the auditor
PUBLIC = "public"  # no login: the login page, health checks, Open311 (POST needs an api_key)
STAFF_SITE = "staff"  # Django's admin site and its own permission checks
AUTHENTICATED = "authenticated"  # any logged-in user, whatever the role (one's own password)
# Object scopes for URLs that name an object: a name registered in citygrid.scopes, or one of these two.
EVERYONE = "everyone"  # every user the roles let through may read every such object (the city's grid)
PUBLIC_OBJECTS = "public"  # public by definition (Open311), each view publishing only what may be published


@dataclass(frozen=True)
class Policy:
    read: frozenset[str] | str  # roles for GET/HEAD/OPTIONS, or PUBLIC / STAFF_SITE
    write: frozenset[str] | str = frozenset()  # roles for POST/PUT/PATCH/DELETE
    objects: str = ""  # how objects are scoped, for the reader
    scope: str = ""  # for URLs naming an object: the registered lookup (citygrid.scopes), EVERYONE or PUBLIC_OBJECTS
    replica: bool = False  # a heavy read a streaming replica may serve (citygrid.replicas): GETs only


def _r(*names: str) -> frozenset[str]:
    return frozenset(names)


CASE_WRITERS = _r(roles.INSPECTOR, roles.OPERATOR, roles.DISPATCHER)
CENTRE = _r(roles.DISPATCHER, roles.OPERATOR, roles.LEADER)
SENSOR_READERS = CENTRE | {roles.BUREAU_STAFF}
# The census is read by those who work cases; the administrator keeps it through the admin site.
ASSET_READERS = ANY_ROLE - {roles.ADMIN}
EMERGENCY_READERS = CENTRE | {roles.BUREAU_STAFF}
PIPE_READERS = _r(roles.DISPATCHER, roles.OPERATOR, roles.LEADER, roles.BUREAU_STAFF)

POLICIES: dict[str, Policy] = {
    # Pages and plumbing
    "login": Policy(PUBLIC, PUBLIC),
    "logout": Policy(PUBLIC, PUBLIC),
    "set_language": Policy(PUBLIC, PUBLIC),
    "password_change": Policy(AUTHENTICATED, AUTHENTICATED),
    "password_change_done": Policy(AUTHENTICATED),
    "otp_setup": Policy(AUTHENTICATED, AUTHENTICATED),
    "otp_verify": Policy(AUTHENTICATED, AUTHENTICATED),
    "otp_recovery": Policy(AUTHENTICATED, AUTHENTICATED),
    "audit-trail": Policy(_r(roles.AUDITOR), objects="the whole security audit trail, read-only"),
    "audit-export": Policy(_r(roles.AUDITOR), objects="as the audit page's search; the export is itself audited"),
    "healthz": Policy(PUBLIC),
    "favicon": Policy(PUBLIC),
    "readyz": Policy(PUBLIC),
    "frontend:home": Policy(PUBLIC, objects="redirects to the user's own page (or the login)"),
    "frontend:map": Policy(ANY_ROLE),
    "frontend:inspector": Policy(_r(roles.INSPECTOR), objects="the inspector's cells and reports (API scoped)"),
    "frontend:inspector-sw": Policy(PUBLIC, objects="static code, no data: the inspector page's offline shell"),
    "frontend:console": Policy(_r(roles.DISPATCHER, roles.OPERATOR), objects="scoped cases (API)"),
    "frontend:dashboard": Policy(_r(roles.LEADER, roles.DISPATCHER), objects="scoped cases (API)"),
    "api-schema": Policy(ANY_ROLE),
    "api-docs": Policy(ANY_ROLE),
    # The grid: read by every role
    "grids:area-list": Policy(ANY_ROLE, replica=True),
    "grids:area-detail": Policy(ANY_ROLE, scope=EVERYONE),
    "grids:cell-list": Policy(ANY_ROLE, replica=True),
    "grids:cell-detail": Policy(ANY_ROLE, scope=EVERYONE),
    "grids:bureau-list": Policy(ANY_ROLE),
    "grids:generation-list": Policy(ANY_ROLE, replica=True),
    "grids:locate": Policy(ANY_ROLE, ANY_ROLE),
    # The component census (assets): scoped like cases — the centre all, a district its own, a bureau those it is
    # in charge of, an inspector those in his cells; staff change them (变更), each change recorded.
    "assets:component-list": Policy(ASSET_READERS, objects="visible components (assets.scoping)"),
    "assets:component-nearest": Policy(ASSET_READERS, objects="visible components (assets.scoping)"),
    "assets:component-detail": Policy(ASSET_READERS, _r(roles.DISPATCHER, roles.BUREAU_STAFF),
                                      "visible components; changed by the centre and the bureau in charge",
                                      scope="component"),
    # The pipe networks: for the centre and the bureaus that repair them (not the public pages, nor every
    # user): the city's centre all, a district's centre its district's, a bureau the networks in its charge.
    # A visible segment's isolation and flow follow its network past the district's edge, as the water does.
    "assets:pipe-list": Policy(PIPE_READERS, objects="visible pipes in the view (assets.scoping)"),
    "assets:pipe-under": Policy(PIPE_READERS, objects="visible pipes near the place (assets.scoping)"),
    "assets:pipe-isolation": Policy(PIPE_READERS, objects="a visible segment; the valves of its network",
                                    scope="segment"),
    "assets:pipe-flow": Policy(PIPE_READERS, objects="a visible segment; its network up and down",
                               scope="segment"),
    # Cases
    "incidents:case-list": Policy(ANY_ROLE, CASE_WRITERS, "scoped: district / bureau / inspector's cells"),
    "incidents:my-cases": Policy(ANY_ROLE, objects="the user's own reports"),
    "incidents:verification-tasks": Policy(_r(roles.INSPECTOR), objects="processed cases in the user's cells"),
    "incidents:case-export": Policy(CENTRE, objects="scoped as the case list", replica=True),
    "incidents:photo": Policy(ANY_ROLE, objects="photos of cases the user may see", scope="photo"),
    "incidents:case-detail": Policy(ANY_ROLE, objects="the user's cases", scope="case"),
    "incidents:case-action": Policy(ANY_ROLE, ANY_ROLE, "each action's roles: incidents.lifecycle.RULES",
                                    scope="case"),
    "incidents:catalogue": Policy(ANY_ROLE),
    # Dispatch and command
    "dispatch:nearest-units": Policy(_r(roles.DISPATCHER), objects="the user's cases; units they may send",
                                     scope="case"),
    "dispatch:send-units": Policy(frozenset(), _r(roles.DISPATCHER), "the user's cases; units they may send",
                                  scope="case"),
    "dispatch:assignment-step": Policy(frozenset(), _r(roles.DISPATCHER, roles.BUREAU_STAFF),
                                       "dispatchers: their district's cases; bureau staff: their bureau's units",
                                       scope="assignment"),
    "dispatch:unit-position": Policy(frozenset(), _r(roles.DISPATCHER, roles.BUREAU_STAFF),
                                     "dispatchers: their district's units; bureau staff: their bureau's units",
                                     scope="unit"),
    "dispatch:events": Policy(CENTRE | {roles.BUREAU_STAFF}, objects="scoped cases (a bureau: its own; a crew's "
                              "phone: also the cases its unit is sent to)"),
    "dispatch:stream": Policy(CENTRE | {roles.BUREAU_STAFF}, objects="as dispatch:events"),
    # Bureau workbench and response crews (issue 22, part A)
    "frontend:bureau": Policy(_r(roles.BUREAU_STAFF), objects="the bureau's cases (API scoped)"),
    "frontend:unit": Policy(_r(roles.BUREAU_STAFF), objects="the crew's own unit (API scoped)"),
    "dispatch:bureau-queue": Policy(_r(roles.BUREAU_STAFF), objects="open cases dispatched to the user's bureau"),
    "dispatch:unit-list": Policy(_r(roles.DISPATCHER, roles.BUREAU_STAFF), _r(roles.DISPATCHER, roles.BUREAU_STAFF),
                                 "units the user commands; new units only in bureaus the user may add to"),
    "dispatch:unit-detail": Policy(_r(roles.DISPATCHER, roles.BUREAU_STAFF), objects="units the user commands",
                                   scope="unit"),
    "dispatch:unit-duty": Policy(frozenset(), _r(roles.DISPATCHER, roles.BUREAU_STAFF), "units the user commands",
                                 scope="unit"),
    "dispatch:dashboard-heat": Policy(_r(roles.LEADER, roles.DISPATCHER), objects="cases in the user's scope",
                                      replica=True),
    "dispatch:dashboard-choropleth": Policy(_r(roles.LEADER, roles.DISPATCHER), objects="cases in the user's scope",
                                            replica=True),
    "dispatch:dashboard-area": Policy(_r(roles.LEADER, roles.DISPATCHER), objects="cells and communities of the "
                                      "user's district", scope="area-figures", replica=True),
    "dispatch:dashboard-kpis": Policy(_r(roles.LEADER, roles.DISPATCHER), objects="cases in the user's scope",
                                      replica=True),
    "dispatch:evaluation": Policy(_r(roles.LEADER, roles.DISPATCHER), objects="cases of the user's district",
                                  replica=True),
    "dispatch:evaluation-series": Policy(_r(roles.LEADER, roles.DISPATCHER), objects="cases of the user's district",
                                         replica=True),
    # The hotline desk (12345/12319) and the public (issue 22, part B). The public's pages and endpoints read
    # no staff API: they show cases only as incidents.publication decides, each rate-limited per address.
    "frontend:hotline": Policy(_r(roles.OPERATOR, roles.DISPATCHER), objects="scoped cases (API)"),
    "grids:places": Policy(ANY_ROLE, objects="the grid's names (and a gazetteer's, when configured)"),
    "incidents:duplicates": Policy(CASE_WRITERS, objects="scoped cases near a point not yet reported"),
    "incidents:caller-cases": Policy(_r(roles.OPERATOR, roles.DISPATCHER), objects="scoped cases by contact number"),
    "incidents:callbacks": Policy(_r(roles.OPERATOR, roles.DISPATCHER), objects="scoped closed cases to call back"),
    "incidents:callback": Policy(frozenset(), _r(roles.OPERATOR, roles.DISPATCHER), "the user's cases",
                                 scope="case"),
    "frontend:report": Policy(PUBLIC, objects="a form; the report goes through public:report"),
    "frontend:public-map": Policy(PUBLIC, objects="published cases only (public:cases)"),
    "frontend:track-lookup": Policy(PUBLIC, objects="a form asking for a case number and its tracking code"),
    "frontend:track": Policy(PUBLIC, objects="one case, with its tracking code, as the publication rule shows it",
                             scope=PUBLIC_OBJECTS),
    "frontend:track-photo": Policy(PUBLIC, objects="after-photos of a verified case, with its tracking code, "
                                   "if the publication rule shows them", scope=PUBLIC_OBJECTS),
    "public:catalogue": Policy(PUBLIC, objects="the catalogue's names"),
    "public:locate": Policy(PUBLIC, objects="the names of the areas a point lies in"),
    "public:report": Policy(PUBLIC, PUBLIC, "a new case from the public (source web), rate-limited per address"),
    "public:cases": Policy(PUBLIC, objects="recent published cases, as the publication rule shows them", replica=True),
    "dispatch:bulletin": Policy(_r(roles.LEADER, roles.DISPATCHER), objects="cases of the user's district; "
                                "another district's bulletin is not found", replica=True),
    "dispatch:bulletins": Policy(_r(roles.LEADER, roles.DISPATCHER), objects="issued bulletins of the user's district",
                                 replica=True),
    "dispatch:bulletin-file": Policy(_r(roles.LEADER, roles.DISPATCHER), objects="issued bulletins of the user's "
                                     "district", scope="bulletin", replica=True),
    "frontend:bulletin": Policy(_r(roles.LEADER, roles.DISPATCHER), objects="cases of the user's district",
                                replica=True),
    # Lifeline monitoring (issue 16): sensors scoped as cases are (district; a bureau its own sensors)
    "monitoring:sensor-list": Policy(SENSOR_READERS, objects="sensors of the user's district / bureau"),
    "monitoring:sensor-detail": Policy(SENSOR_READERS, objects="sensors of the user's district / bureau",
                                       scope="sensor"),
    "monitoring:sensor-chart": Policy(SENSOR_READERS, objects="readings of the user's sensors", scope="sensor",
                                      replica=True),
    "monitoring:alarm-summary": Policy(_r(roles.LEADER, roles.DISPATCHER), objects="alarms of the user's sensors"),
    "monitoring:reading-batch": Policy(frozenset(), PUBLIC, "readings from a gateway with its own key (Authorization: "
                                       "Gateway), for its bureau's sensors only; no user"),
    # Early warning (预警, issue 17): the centres' dispatchers issue, update and cancel — the city's centre for the
    # city, a district's within its district (alerts.scoping); leaders read. The public reads what is published:
    # warnings in force that are not drills, their Atom index and CAP documents, rate-limited per address.
    "frontend:warnings": Policy(_r(roles.DISPATCHER, roles.LEADER), objects="warnings of the user's centre (API)"),
    "alerts:warning-list": Policy(_r(roles.DISPATCHER, roles.LEADER), _r(roles.DISPATCHER),
                                  "the city's and the user's district's warnings; issued within the user's district"),
    "alerts:warning-detail": Policy(_r(roles.DISPATCHER, roles.LEADER), objects="the city's and the user's "
                                    "district's warnings", scope="warning"),
    "alerts:warning-update": Policy(frozenset(), _r(roles.DISPATCHER), "the user's centre's warnings (the city's "
                                    "centre any)", scope="warning"),
    "alerts:warning-cancel": Policy(frozenset(), _r(roles.DISPATCHER), "the user's centre's warnings (the city's "
                                    "centre any)", scope="warning"),
    "alerts:warning-cap": Policy(_r(roles.DISPATCHER, roles.LEADER), objects="CAP documents of warnings the user "
                                 "reads, drills' too", scope="warning"),
    "alerts:types": Policy(_r(roles.DISPATCHER, roles.LEADER), objects="the warning types' names"),
    "frontend:public-warnings": Policy(PUBLIC, objects="published warnings only (warnings-public:in-force)"),
    "warnings-public:in-force": Policy(PUBLIC, objects="warnings in force, never drills"),
    "warnings-public:feed": Policy(PUBLIC, objects="Atom index of the warnings in force, never drills"),
    "warnings-public:cap": Policy(PUBLIC, objects="a published CAP document; a drill's is not found",
                                  scope=PUBLIC_OBJECTS),
    # Emergency command (issue 17): an incident is seen by the city's centre, the centres of the districts its
    # area touches, its headquarters' members and the bureaus holding its tasks (emergency.scoping); the rules
    # (emergency.command) decide who may do what to it.
    "emergency:incident-list": Policy(EMERGENCY_READERS, _r(roles.DISPATCHER), "incidents in the user's scope"),
    "emergency:incident-detail": Policy(EMERGENCY_READERS, objects="an incident in scope", scope="incident"),
    "emergency:incident-board": Policy(EMERGENCY_READERS, objects="an incident in scope; its layers scoped as "
                                       "cases, units and sensors are", scope="incident"),
    "emergency:offered-cases": Policy(CENTRE, objects="an incident in scope; the user's cases", scope="incident"),
    "emergency:incident-report": Policy(EMERGENCY_READERS, objects="an incident in scope", scope="incident"),
    "emergency:incident-action": Policy(frozenset(), EMERGENCY_READERS, "an incident in scope; each action's "
                                        "rule: emergency.command", scope="incident"),
    "emergency:task-list": Policy(EMERGENCY_READERS, objects="tasks of the user's bureau / unit / incidents"),
    "emergency:task-step": Policy(frozenset(), _r(roles.DISPATCHER, roles.BUREAU_STAFF), "a task in scope",
                                  scope="incident-task"),
    "emergency:resources": Policy(EMERGENCY_READERS, objects="the city's emergency resources"),
    "emergency:plans": Policy(EMERGENCY_READERS, objects="plans and headquarters (data)"),
    "frontend:emergency": Policy(EMERGENCY_READERS, objects="incidents in scope (API)"),
    "frontend:incident-board": Policy(EMERGENCY_READERS, objects="an incident in scope", scope="incident"),
    "frontend:incident-report": Policy(EMERGENCY_READERS, objects="an incident in scope", scope="incident"),
    # The gazetteer (issue 18): the city's addresses are no secret to staff; the public gets text and point only.
    "gazetteer:geocode": Policy(ANY_ROLE, objects="the gazetteer's addresses, landmarks and roads"),
    "gazetteer:reverse": Policy(ANY_ROLE, objects="the gazetteer's door numbers"),
    "public-gazetteer:geocode": Policy(PUBLIC, objects="an address's text and point, rate-limited per address"),
    # Vector tiles (map services, issue 18): a tile is no object — z/x/y name a place — and each holds only what
    # the same user's GeoJSON would: the owning apps' scoped querysets are compiled into the tile's SQL.
    "tiles:areas": Policy(ANY_ROLE, objects="the city's areas (everyone's)", scope=EVERYONE, replica=True),
    "tiles:cells": Policy(ANY_ROLE, objects="the city's cells (everyone's)", scope=EVERYONE, replica=True),
    "tiles:components": Policy(ASSET_READERS, objects="visible components in the tile (assets.scoping)",
                               scope=EVERYONE, replica=True),
    "tiles:pipes": Policy(PIPE_READERS, objects="visible pipes in the tile (assets.scoping)", scope=EVERYONE,
                          replica=True),
    "tiles:cases": Policy(ANY_ROLE, objects="cases in the tile, scoped and filtered as the case list "
                          "(incidents.scoping)", scope=EVERYONE, replica=True),
    # Open map services (ogc): OGC API – Features. The grid and the published cases are public (rate-limited per
    # address); the census and the pipes need a reader's role (an API token) and are filtered by his scope.
    "ogc:landing": Policy(PUBLIC, objects="the service's description"),
    "ogc:openapi": Policy(PUBLIC, objects="the OpenAPI document of the collections the caller may read"),
    "ogc:conformance": Policy(PUBLIC),
    "ogc:static": Policy(PUBLIC, objects="pygeoapi's stylesheet and images", scope=PUBLIC_OBJECTS),
    "ogc:collections": Policy(PUBLIC, objects="the collections the caller may read"),
    **{f"ogc:{name}": Policy(PUBLIC, objects="the grid; published cases as Open311 shows them",
                             scope=PUBLIC_OBJECTS)
       for name in ("collection", "queryables", "schema", "items", "item")},
    **{f"ogc:components{suffix}": Policy(ASSET_READERS, objects="visible components (assets.scoping)")
       for suffix in ("", "-queryables", "-schema", "-items")},
    "ogc:components-item": Policy(ASSET_READERS, objects="a visible component", scope="component"),
    **{f"ogc:pipes{suffix}": Policy(PIPE_READERS, objects="visible pipe segments (assets.scoping)")
       for suffix in ("", "-queryables", "-schema", "-items")},
    "ogc:pipes-item": Policy(PIPE_READERS, objects="a visible pipe segment", scope="segment"),
    "datums:convert": Policy(ANY_ROLE, ANY_ROLE, "no data: points converted between datums"),
}
# Open311 is public by the GeoReport specification; every admin page is the admin site's.
PREFIX_POLICIES: dict[str, Policy] = {
    "open311:": Policy(PUBLIC, PUBLIC, "public data only; POST needs a client api_key", scope=PUBLIC_OBJECTS,
                       replica=True),
    "admin:": Policy(STAFF_SITE, STAFF_SITE, "Django admin permissions"),
}


def policy_for(view_name: str) -> Policy | None:
    if view_name in POLICIES:
        return POLICIES[view_name]
    return next((p for prefix, p in PREFIX_POLICIES.items() if view_name.startswith(prefix)), None)


SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class PolicyPermission(BasePermission):
    """Allows an API request only if the URL's declared policy grants one of the user's roles."""

    def has_permission(self, request, view) -> bool:
        match = getattr(request, "resolver_match", None)
        # fail closed: an undeclared endpoint is nobody's
        if not (match and allows(request.user, request.method, match.view_name)):
            return False
        resolve_scope(request, match.view_name, view.kwargs)
        return True


def resolve_scope(request, view_name: str, kwargs: dict) -> None:
    """Look up the object a URL names in its declared scope before the view runs (Http404 outside it)."""
    if not kwargs:
        return
    scope = policy_for(view_name).scope
    if scope in (EVERYONE, PUBLIC_OBJECTS):
        return
    scopes.remember(request, scopes.resolve(request, scope, kwargs))


def allows(user, method: str, view_name: str) -> bool:
    """Whether the declared policy of a URL lets this user through with this method (pages and API alike)."""
    policy = policy_for(view_name)
    if policy is None:
        return False
    allowed = policy.read if method in SAFE_METHODS else policy.write
    if allowed == PUBLIC:
        return True
    if not user or not user.is_authenticated:
        return False
    if allowed == AUTHENTICATED:
        return True
    return bool(user_roles(user) & allowed) if isinstance(allowed, frozenset) else False


class PolicyPageMixin:
    """For pages: log in first, then the URL's declared policy decides (403, recorded, otherwise)."""

    def dispatch(self, request, *args, **kwargs):
        from django.contrib.auth.views import redirect_to_login
        from django.core.exceptions import PermissionDenied

        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not allows(request.user, request.method, request.resolver_match.view_name):
            raise PermissionDenied  # recorded with every other 403 (citygrid.audit.AuditContextMiddleware)
        resolve_scope(request, request.resolver_match.view_name, kwargs)
        return super().dispatch(request, *args, **kwargs)
