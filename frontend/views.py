"""The pages. Each is a template and one script; the data comes from the API, so a page shows what its
user's policy and scope allow and nothing more."""

import json
from datetime import timedelta

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView

from citygrid import roles
from citygrid.policy import PolicyPageMixin, allows
from citygrid.roles import ROLE_LABELS, user_roles
from grids.models import Area
from incidents.actions import action_labels

# The pages a role lands on, first match wins; others see the grid map.
LANDING = ((roles.INSPECTOR, "frontend:inspector"), (roles.DISPATCHER, "frontend:console"),
           (roles.OPERATOR, "frontend:hotline"), (roles.LEADER, "frontend:dashboard"),
           (roles.AUDITOR, "audit-trail"), (roles.BUREAU_STAFF, "frontend:bureau"), (roles.ADMIN, "admin:index"),
           (roles.SECADMIN, "admin:index"))
# Lazy: translated per request, in the language the user chose.
NAV = (("frontend:map", gettext_lazy("Grid map")), ("frontend:inspector", gettext_lazy("Report")),
       ("frontend:console", gettext_lazy("Command console")), ("frontend:hotline", gettext_lazy("Hotline desk")),
       ("frontend:dashboard", gettext_lazy("Dashboard")), ("frontend:bulletin", gettext_lazy("Bulletin")),
       ("audit-trail", gettext_lazy("Audit trail")), ("frontend:bureau", gettext_lazy("Bureau workbench")),
       ("frontend:unit", gettext_lazy("Crew")), ("frontend:emergency", gettext_lazy("Emergencies")),
       ("frontend:warnings", gettext_lazy("Early warning")))


def map_config() -> dict:
    from django.templatetags.static import static

    # Leaflet finds its default marker images next to leaflet.css by name, which hashed names break: the pages
    # are told where they are.
    icons = {"iconUrl": static("leaflet/images/marker-icon.png"),
             "iconRetinaUrl": static("leaflet/images/marker-icon-2x.png"),
             "shadowUrl": static("leaflet/images/marker-shadow.png")}
    return {"tileUrl": settings.TILE_URL, "tileAttribution": settings.TILE_ATTRIBUTION,
            "tileDatum": settings.TILE_DATUM, "markerIcons": icons}


def tile_config(user) -> dict:
    """The vector tile layers (tiles/) the user may read, as URL templates for Leaflet.VectorGrid, and the zoom each
    starts at; none on a GCJ-02 base map (tiles are cut in the stored coordinates' Web Mercator) or with
    VECTOR_TILES off: the pages then keep their GeoJSON."""
    from tiles.layers import CELL_MIN_ZOOM, LAYERS

    if not settings.VECTOR_TILES or settings.TILE_DATUM == "gcj02":
        return {}
    templates = {name: reverse(f"tiles:{name}", kwargs={"z": 0, "x": 0, "y": 0}).replace("/0/0/0.pbf",
                                                                                         "/{z}/{x}/{y}.pbf")
                 for name in LAYERS if allows(user, "GET", f"tiles:{name}")}
    return {"tiles": templates, "tileMinZoom": {"cells": CELL_MIN_ZOOM, "components": settings.COMPONENT_MIN_ZOOM}}


class Page(PolicyPageMixin, TemplateView):
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["roles"] = [ROLE_LABELS[r] for r in sorted(user_roles(self.request.user))]
        context["nav"] = nav(self.request)
        tiles = tile_config(self.request.user)
        context["map_config"] = {**map_config(), **tiles}
        context["page_config"] = {**map_config(), **tiles, **self.page_config()}
        return context

    def page_config(self) -> dict:
        return {}



def nav(request) -> list[tuple[str, str]]:
    """Links to the other pages the user may open (the crew's page only for a crew's phone account), and to the
    admin site for those who work there."""
    from dispatch.scoping import crew_unit_id

    here, user = request.resolver_match.view_name if request.resolver_match else "", request.user
    links = [(reverse(name), label) for name, label in NAV if name != here and allows(user, "GET", name)
             and (name != "frontend:unit" or crew_unit_id(user))]
    if user.is_staff:
        links.append((reverse("admin:index"), _("Administration")))
    return links


def home(request):
    """Each role's own page (a crew's phone its unit's); the grid map for the others."""
    from dispatch.scoping import crew_unit_id

    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next=/")
    held = user_roles(request.user)
    if roles.BUREAU_STAFF in held and crew_unit_id(request.user):
        return redirect("frontend:unit")
    target = next((name for role, name in LANDING if role in held), "frontend:map")
    return redirect(target)


class GridMap(Page):
    """The city grid on a map: areas by level, cells when zoomed in, click to locate a point; the census
    components from a readable zoom, for those who may read them."""

    template_name = "frontend/grid_map.html"

    def get_context_data(self, **kwargs):
        from citygrid.policy import allows

        context = super().get_context_data(**kwargs)
        if allows(self.request.user, "GET", "assets:component-list"):
            context["map_config"] = {**context["map_config"], "apiComponents": reverse("assets:component-list")}
        return context


class Inspector(Page):
    """The inspector's phone: report with position, category and photo (queued offline), my cases, verification."""

    template_name = "frontend/inspector.html"

    def page_config(self) -> dict:
        return {"apiLocate": reverse("grids:locate"), "apiCatalogue": reverse("incidents:catalogue"),
                "apiCells": reverse("grids:cell-list"), "apiAreas": reverse("grids:area-list"),
                "apiCases": reverse("incidents:case-list"), "apiMine": reverse("incidents:my-cases"),
                "apiTasks": reverse("incidents:verification-tasks"), "apiCase": "/api/cases/",
                "apiNearest": reverse("assets:component-nearest"), "apiComponents": reverse("assets:component-list"),
                "serviceWorker": reverse("frontend:inspector-sw"),
                "photoMaxPixels": 1600,
                "text": {"cell": _("Cell"), "noCell": _("Not in a grid cell of the city."),
                         "positionKept": _("Position kept; the cell is found when the report is sent."),
                         "noGps": _("No GPS: tap the map where the problem is."),
                         "badPhoto": _("That photo cannot be read."), "sent": _("Reported. Case number"),
                         "sending": _("Sending…"), "queued": _("No network: saved on this phone, sent when the "
                                                                "network returns."),
                         "offline": _("Offline — reports are kept on this phone"),
                         "needPosition": _("Waiting for the position: tap the map or wait for GPS."),
                         "needCategory": _("Choose a category."), "needPhoto": _("This category needs a photo."),
                         "discard": _("Discard this refused report?"), "none": _("Nothing here."),
                         "pass": _("Passed"), "fail": _("Not fixed"), "afterPhoto": _("After"),
                         "place": _("Place"), "workDone": _("What was done"),
                         "notOnMap": _("Not on the map"), "isMissing": _("It is missing"),
                         "noComponentNear": _("No such component on the map near here."), "metres": _("m")}}


INSPECTOR_ASSETS = ("frontend/citygrid.css", "leaflet/leaflet.css", "leaflet/leaflet.js",
                    "leaflet/images/marker-icon.png", "leaflet/images/marker-icon-2x.png",
                    "leaflet/images/marker-shadow.png", "frontend/datum.js",
                    "frontend/common.js", "frontend/components.js", "frontend/inspector.js")


def inspector_service_worker(request):
    """The inspector page's service worker, listing the static files by their served (hashed) names; the cache
    is renamed whenever one of them changes."""
    import hashlib
    import json

    from django.shortcuts import render
    from django.templatetags.static import static

    assets = [static(name) for name in INSPECTOR_ASSETS]
    version = hashlib.sha256("|".join(assets).encode()).hexdigest()[:12]
    response = render(request, "frontend/inspector_sw.js", {"version": version, "assets": json.dumps(assets)},
                      content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


class Console(Page):
    """The command centre's console: cases on the map and in a list, the case panel with its actions, live."""

    template_name = "frontend/console.html"

    def get_context_data(self, **kwargs):
        from incidents.models import Status, Urgency

        return {**super().get_context_data(**kwargs), "statuses": Status.choices, "urgencies": Urgency.choices,
                "pipes_config": {**pipes_config(), **tile_config(self.request.user)}}

    def page_config(self) -> dict:
        from incidents.models import FINAL_STATUSES, Status, Urgency

        return {"apiCases": reverse("incidents:case-list"), "apiCase": "/api/cases/",
                "urgencies": {value: str(label) for value, label in Urgency.choices},
                "openStatuses": [s.value for s in Status if s not in FINAL_STATUSES],
                "apiStream": reverse("dispatch:stream"), "apiEvents": reverse("dispatch:events"),
                "apiCells": reverse("grids:cell-list"), "apiAreas": reverse("grids:area-list"),
                "apiBureaus": reverse("grids:bureau-list"), "apiCatalogue": reverse("incidents:catalogue"),
                "apiUnits": "/api/dispatch/cases/", "apiComponent": "/api/assets/components/",
                "apiUnder": reverse("assets:pipe-under"), "apiSegments": "/api/assets/pipes/segments/",
                "burstRadius": 30,
                "canDispatchUnits": roles.DISPATCHER in user_roles(
                    self.request.user),
                "actions": {"register": _("Register"), "reject": _("Do not register"), "dispatch": _("Dispatch"),
                            "return": _("Return"), "approve_postponement": _("Approve postponement"),
                            "deny_postponement": _("Deny postponement"), "merge": _("Merge"), "close": _("Close"),
                            "cancel": _("Void the case"), "accept": _("Accept")},
                "text": {"conflict": _("Someone changed this case meanwhile; it has been reloaded. Check it and "
                                       "try again."),
                         "deadline": _("deadline"), "routing": _("Routing"), "duplicates": _("Likely duplicates"),
                         "bureau": _("Bureau to dispatch to"), "responsible": _("Responsible bureau"),
                         "into": _("Merge into"),
                         "more": _("The first %(n)s are listed: narrow the filters to see the others."),
                         "note": _("Note (the reason, when dispatching elsewhere than the rule)"), "log": _("Log"),
                         "emergency": _("Emergency reported"), "reason": _("Reason"),
                         "nearest": _("Nearest available units"), "send": _("Send"),
                         "noUnits": _("No available unit nearby."), "none": _("No cases match."),
                         **console_text()},
                **console_config(self.request), **sensor_config(self.request)}


def alarm_config(request) -> dict:
    """The dashboard's table of sensor alarms by kind and district."""
    if not allows(request.user, "GET", "monitoring:alarm-summary"):
        return {}
    return {"apiAlarms": reverse("monitoring:alarm-summary"),
            "alarmColumns": {"kind_name": _("Sensor kind"), "district_name": _("District"), "episodes": _("Episodes"),
                             "alarms": _("Reached the alarm level"), "cases": _("Cases raised"),
                             "ongoing": _("Ongoing")},
            "alarmNone": _("No sensor alarms in this period.")}


def sensor_config(request) -> dict:
    """The console's sensor layer (lifeline monitoring), for the roles that may read sensors."""
    from monitoring.models import Level, SensorState

    if not allows(request.user, "GET", "monitoring:sensor-list"):
        return {}
    return {"apiSensors": reverse("monitoring:sensor-list"), "apiSensor": "/api/monitoring/sensors/",
            "sensorStates": {value: str(label) for value, label in SensorState.choices},
            "sensorLevels": {value: str(label) for value, label in Level.choices},
            "sensorText": {"layer": _("Sensors"), "legend": _("Sensors in view:"), "last24h": _("Last 24 hours"),
                           "episodes": _("Alarm episodes"),
                           "noEpisodes": _("No alarm episodes."), "noReadings": _("No readings in this period."),
                           "lastValue": _("Last reading"), "peak": _("peak"), "case": _("case"),
                           "ongoing": _("ongoing"), "flapping": _("Flapping: no cases raised")}}


def pipes_config() -> dict:
    """The console's census and pipe tools (frontend/pipes.js)."""
    from assets.models import NetworkKind, PipePoint

    return {"apiPipes": reverse("assets:pipe-list"), "apiUnder": reverse("assets:pipe-under"),
            "apiComponents": reverse("assets:component-list"), "apiSegments": "/api/assets/pipes/segments/",
            "tileDatum": settings.TILE_DATUM, "underRadius": 5,
            "text": {"hint": {"under": _("Click the map: the pipes within 5 m, with depth and owner."),
                              "line": _("Click along the planned dig, double-click to finish: the pipes within 5 m "
                                        "of it, with depth and owner."),
                              "isolate": _("Click a water or gas pipe: the valves that isolate a burst there."),
                              "flow": _("Click a sewer or storm pipe: what lies downstream.")},
                     "kinds": {k.value: str(k.label) for k in NetworkKind},
                     "points": {k.value: str(k.label) for k in PipePoint.Kind},
                     "depth": _("depth"), "underTitle": _("Under here"), "nothingUnder": _("No pipe here."),
                     "isolateTitle": _("Burst on"), "valvesToClose": _("Valves to close:"),
                     "segmentsCut": _("Segments cut off:"), "customers": _("customers cut off:"),
                     "flowTitle": _("Downstream of")}}


def console_text() -> dict:
    """The console's further words (issue 22), translated per request."""
    return {"cell": _("Cell"), "mergeTitle": _("Merge into another case (a duplicate)"),
            "component": _("Component"), "valvesToClose": _("Valves to close:"),
            "customersCut": _("customers cut off:"), "nearestPipe": _("Nearest pipe:"),
            "noPipeNear": _("No pipe of that network in use within 30 m."),
            "layerCells": _("Cells"), "layerDistricts": _("Districts"), "layerCases": _("Cases"),
            "layerAllCases": _("All matching cases (vector tiles)")}


def console_config(request) -> dict:
    from incidents.scoping import user_district_id

    district = user_district_id(request.user)
    code = Area.objects.filter(pk=district).values_list("code", flat=True).first() if district else None
    return {"logActions": action_labels(), "district": code}


class Dashboard(Page):
    """The leaders' dashboard: heatmap or cell choropleth, KPI cards, charts, evaluation rankings, CSV."""

    template_name = "frontend/dashboard.html"

    def get_context_data(self, **kwargs):
        from datetime import timedelta

        from django.utils import timezone

        today = timezone.localdate()
        return {**super().get_context_data(**kwargs), "start": (today - timedelta(days=29)).isoformat(),
                "end": (today + timedelta(days=1)).isoformat()}

    def page_config(self) -> dict:
        return {**alarm_config(self.request), "apiHeat": reverse("dispatch:dashboard-heat"),
                "apiChoropleth": reverse("dispatch:dashboard-choropleth"),
                "apiArea": "/api/dispatch/dashboard/areas/", "apiKpis": reverse("dispatch:dashboard-kpis"),
                "apiEvaluation": reverse("dispatch:evaluation"), "apiCatalogue": reverse("incidents:catalogue"),
                "apiAreas": reverse("grids:area-list"), "apiBulletins": reverse("dispatch:bulletins"),
                "columns": {"bureau": _("Bureau"), "name": _("Name"), "overdue": _("Overdue"), "rank": _("Rank"),
                            "code": _("Code"), "score": _("Score"), "reported": _("Reported"),
                            "closed": _("Cases closed"), "due": _("Due"), "closure_rate": _("Closure rate"),
                            "on_time_closure_rate": _("On-time closure rate"), "registered": _("Valid reports"),
                            "valid_report_rate": _("Valid report rate"),
                            "verification_on_time_rate": _("Verification on time")},
                "text": {"intake": _("Reported"), "closed": _("Closed"), "overdue": _("Overdue now"),
                         "cases": _("cases"), "noData": _("No cases in this period."), "month": _("Month"),
                         "scope": _("Scope"), "files": _("Files"), "noBulletins": _("No bulletin issued yet."),
                         "perCell": _("Cases per cell"), "perCommunity": _("Cases per community"),
                         "max": _("most")}}


class BulletinPage(Page):
    """The bulletin (通报) of a period and scope as a page that prints on A4, with its PDF, XLSX and CSV; the
    previous month by default. A district's centre sees its own district's."""

    template_name = "frontend/bulletin.html"

    def get(self, request, *args, **kwargs):
        from urllib.parse import urlencode

        from django.http import Http404
        from rest_framework.exceptions import ValidationError

        from dispatch import bulletin
        from dispatch.views import BulletinQuery, bulletin_scope
        from grids.models import Area, Level
        from incidents.scoping import user_district_id

        last_month = bulletin.month_of(timezone_localdate().replace(day=1) - timedelta(days=1))
        params = {"start": last_month.start.isoformat(), "end": last_month.end.isoformat(), "district": "",
                  **{k: v for k, v in request.GET.items() if k in ("start", "end", "district")}}
        context = self.get_context_data(**kwargs, **params, errors={}, document="",
                                        districts=[] if user_district_id(request.user) else list(
                                            Area.objects.current().filter(level=Level.DISTRICT).order_by("code")
                                            .values_list("code", "name")))
        query = BulletinQuery(data=params)
        try:
            query.is_valid(raise_exception=True)
            district_id = bulletin_scope(request.user, params["district"])
        except ValidationError as exc:
            context["errors"] = exc.detail
            return self.render_to_response(context, status=400)
        except Http404:
            raise
        data = bulletin.figures(query.validated_data["start"], query.validated_data["end"], district_id)
        context["document"] = bulletin.render_html(data, standalone=False)
        context["export_url"] = reverse("dispatch:bulletin") + "?" + urlencode(
            {"start": params["start"], "end": params["end"], "district": params["district"]})
        return self.render_to_response(context)


def timezone_localdate():
    from django.utils import timezone

    return timezone.localdate()


# Bureau workbench and response crews (issue 22, part A)
class BureauWorkbench(Page):
    """专业部门工作台: the bureau's queue by deadline with its SLA lights, the map, the case with the actions the
    lifecycle allows now (accept, return, postponement, processing with after-photos), live; desktop and phone."""

    template_name = "frontend/bureau.html"

    def get_context_data(self, **kwargs):
        from dispatch.workbench import QUEUE_STATUSES
        from incidents.models import Category, Status, Urgency

        majors = Category.objects.filter(parent__isnull=True, active=True).order_by("code")
        return {**super().get_context_data(**kwargs), "urgencies": Urgency.choices, "majors": majors,
                "statuses": [(s, Status(s).label) for s in QUEUE_STATUSES],
                "task_config": incident_task_config(self.request)}

    def page_config(self) -> dict:
        from dispatch.workbench import receives_escalations
        from incidents.models import Urgency

        return {"apiQueue": reverse("dispatch:bureau-queue"), "apiCase": "/api/cases/",
                "apiAreas": reverse("grids:area-list"),
                "apiStream": reverse("dispatch:stream"), "apiEvents": reverse("dispatch:events"),
                "urgencies": {value: str(label) for value, label in Urgency.choices}, "photoMaxPixels": 1600,
                "photoMaxCount": settings.PHOTO_MAX_COUNT,
                "receivesEscalations": receives_escalations(self.request.user), "actions": action_labels(),
                "text": {"conflict": _("Someone changed this case meanwhile; it has been reloaded. Check it and "
                                       "try again."),
                         "none": _("Nothing in the queue."), "deadline": _("deadline"),
                         "hoursLeft": _("%(h)s office hours left"), "hoursOver": _("%(h)s office hours overdue"),
                         "noDeadline": _("no deadline"), "escalated": _("Escalated (督办)"),
                         "warned": _("Near due"), "rework": _("Rework"),
                         "postponing": _("Postponement requested until"),
                         "newCase": _("New case dispatched to your bureau"), "newEscalation": _("Escalation (督办)"),
                         "reason": _("Reason"), "until": _("New deadline"), "note": _("What was done"),
                         "takePhoto": _("Take photo"), "choosePhotos": _("Choose photos"),
                         "needPhoto": _("Add at least one photo of the result."),
                         "badPhoto": _("That photo cannot be read."),
                         "remove": _("Remove"), "photos": _("Photos"), "log": _("Log"),
                         "back": _("Back to the list"), "close": _("Hide this case"),
                         "sent": _("Done."), "waiting": _("Waiting for the inspector's check."),
                         "returnCase": _("Return to the command centre"), "postpone": _("Request postponement"),
                         "process": _("Report processed"), "accept": _("Accept"), "place": _("Place"),
                         "tooMany": _("At most %(n)s photos.")}}


class CrewPage(Page):
    """A crew's phone (处置力量): on or off duty, its position shared every few seconds while on duty and the page
    is open, its assignment as soon as it is sent, one button for each step: acknowledge, arrive, clear."""

    template_name = "frontend/unit.html"

    def get_context_data(self, **kwargs):
        from dispatch.models import ResponseUnit
        from dispatch.scoping import crew_unit_id

        unit = ResponseUnit.objects.select_related("bureau").filter(pk=crew_unit_id(self.request.user)).first()
        return {**super().get_context_data(**kwargs), "unit": unit, "task_config": incident_task_config(self.request)}

    def page_config(self) -> dict:
        from dispatch.models import ResponseUnit
        from dispatch.scoping import crew_unit_id

        code = ResponseUnit.objects.filter(pk=crew_unit_id(self.request.user)).values_list("code", flat=True).first()
        return {"unit": code, "apiUnits": reverse("dispatch:unit-list"), "apiAssignments": "/api/dispatch/assignments/",
                "apiStream": reverse("dispatch:stream"), "apiEvents": reverse("dispatch:events"),
                "positionSeconds": settings.UNIT_POSITION_SECONDS,
                "text": {"acknowledge": _("Acknowledge"), "arrive": _("Arrived on site"), "clear": _("Cleared"),
                         "onDuty": _("On duty"), "offDuty": _("Off duty"), "goOn": _("Go on duty"),
                         "goOff": _("Go off duty"), "noTask": _("No assignment. Waiting for the command centre."),
                         "newTask": _("New assignment"), "shared": _("Position shared at"),
                         "notShared": _("Position not shared while off duty."), "noGps": _("No GPS position."),
                         "waitingGps": _("Waiting for the GPS position…"),
                         "dispatchedAt": _("sent"), "acknowledgedAt": _("acknowledged"), "arrivedAt": _("arrived"),
                         "stepFailed": _("This step was already recorded; the assignment has been reloaded."),
                         "offline": _("No network: retrying.")}}


# ---- The hotline desk and the public (issue 22, part B) ----------------------------------------------------

class Hotline(Page):
    """The 12345 / 12319 desk: a call taken down while the caller is on the line (their earlier cases, the place
    by name or on the map, likely duplicates before saving, merge in one click), and the callbacks (回访)."""

    template_name = "frontend/hotline.html"

    def get_context_data(self, **kwargs):
        from incidents.models import Satisfaction, Urgency

        return {**super().get_context_data(**kwargs), "urgencies": Urgency.choices,
                "satisfactions": Satisfaction.choices}

    def page_config(self) -> dict:
        from incidents.callers import MIN_DIGITS

        return {"apiCases": reverse("incidents:case-list"), "apiCase": "/api/cases/",
                "apiDuplicates": reverse("incidents:duplicates"), "apiCallers": reverse("incidents:caller-cases"),
                "apiCallbacks": reverse("incidents:callbacks"), "apiPlaces": reverse("grids:places"),
                "apiLocate": reverse("grids:locate"), "apiCatalogue": reverse("incidents:catalogue"),
                "apiAreas": reverse("grids:area-list"), "apiCells": reverse("grids:cell-list"),
                "callerMinDigits": MIN_DIGITS,
                "text": {"needPosition": _("Give the place: search a name or click the map."),
                         "needCategory": _("Choose a category."), "saved": _("Saved: case"),
                         "registered": _("registered"), "mergedInto": _("merged into"),
                         "noDuplicates": _("No likely duplicate nearby."), "mergeInto": _("Merge into this case"),
                         "earlier": _("Earlier cases of this caller"), "sameNumber": _("same number"),
                         "noEarlier": _("No earlier case from this number."), "outside": _("Outside the city."),
                         "cell": _("Cell"), "metres": _("m"), "noPlaces": _("No place of that name."),
                         "noCallbacks": _("Nobody to call back now."), "attempts": _("calls without answer"),
                         "closedAt": _("closed"), "callbackSaved": _("Callback recorded."),
                         "reopened": _("Reopened as rework:"), "conflict": _("Someone changed this case "
                                                                            "meanwhile; the list is reloaded."),
                         "chooseCallback": _("Choose a case on the left to call back."),
                         "mergedCase": _("merged into"),
                         "network": _("No answer from the server: nothing was saved twice; try again."),
                         # the gazetteer's kinds of place (the grid's own need no tag)
                         "kinds": {"address": _("door number"), "building": _("building"),
                                   "landmark": _("landmark"), "road": _("road")}}}


def _public_nav() -> list[tuple[str, str]]:
    return [(reverse("frontend:report"), _("Report a problem")), (reverse("frontend:public-map"), _("Cases map")),
            (reverse("frontend:track-lookup"), _("Track a report")),
            (reverse("frontend:public-warnings"), _("Warnings in force"))]


class PublicPage(TemplateView):
    """A page for anyone, without an account: its declared policy (public) and a rate per address. It reads
    only the public's own endpoints, never the staff API."""

    rate_group = "public-read"

    def dispatch(self, request, *args, **kwargs):
        from django.core.exceptions import PermissionDenied
        from django.http import HttpResponse

        from incidents.public_views import limited

        if not allows(request.user, request.method, request.resolver_match.view_name):
            raise PermissionDenied
        if limited(request, self.rate_group, settings.PUBLIC_READ_RATE):
            return HttpResponse(_("Too many requests; wait a minute and try again."), status=429,
                                content_type="text/plain; charset=utf-8")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        here = self.request.path
        context["nav"] = [(url, label) for url, label in _public_nav() if url != here]
        context["page_config"] = {**map_config(), **self.page_config()}
        return context

    def page_config(self) -> dict:
        return {}


class Report(PublicPage):
    """A citizen reports from a phone without an account: position or map tap, category, photo (resized on the
    phone), description, optional contact; gets the case number and a tracking link."""

    template_name = "frontend/report.html"

    def page_config(self) -> dict:
        return {"apiCatalogue": reverse("public:catalogue"), "apiLocate": reverse("public:locate"),
                "apiGeocode": reverse("public-gazetteer:geocode"), "apiReport": reverse("public:report"),
                "trackUrl": reverse("frontend:track", args=["NUMBER"]),
                "photoMaxPixels": 1600, "maxPhotos": 3,
                "text": {"needPosition": _("Tap the map where the problem is, or allow the position."),
                         "needCategory": _("Choose what kind of problem it is."), "sending": _("Sending…"),
                         "outside": _("This place is outside the city."), "noGps": _("No position from the "
                                                                                     "phone: tap the map."),
                         "badPhoto": _("That photo cannot be read."), "tooMany": _("At most 3 photos."),
                         "sent": _("Thank you. Your report is case"), "code": _("Tracking code"),
                         "track": _("Follow it here"), "keep": _("Keep this link: the number and the code are "
                                                                 "all you need to follow your report."),
                         "network": _("No network: try again when you are online."),
                         "tooFast": _("Too many reports from this connection; try again later."),
                         "mine": _("Reports sent from this phone"), "remove": _("Remove"),
                         "noAddress": _("No such address; tap the map instead.")}}


class TrackLookup(PublicPage):
    """Follow a report: the case number and its tracking code."""

    template_name = "frontend/track.html"

    def get(self, request, *args, **kwargs):
        number, code = request.GET.get("number", "").strip(), request.GET.get("code", "").strip()
        if number and code:
            return redirect(f"{reverse('frontend:track', args=[number[:20]])}?{urlencode({'code': code[:30]})}")
        return super().get(request, *args, **kwargs)


class Track(PublicPage):
    """One case as its reporter follows it: status, stages, the after-photo once verified — only what the
    publication rule shows, nothing personal. Without the right code, the same form for every number: whether
    a case exists is not told."""

    template_name = "frontend/track.html"

    def get(self, request, number: str, *args, **kwargs):
        from incidents.tracking import code_matches

        code = request.GET.get("code", "")
        case = self._case(number) if code_matches(number, code) else None
        if case is None:
            context = self.get_context_data(number=number, code=code, wrong=bool(code))
            return self.render_to_response(context, status=404 if code else 200)
        return self.render_to_response(self.get_context_data(**self._tracked(case, code)))

    @staticmethod
    def _case(number: str):
        from incidents.models import Case
        from incidents.publication import public_related

        return public_related(Case.objects.filter(number=number)).first()

    def _tracked(self, case, code: str) -> dict:
        from incidents import publication
        from incidents.tracking import tracking_code

        code = tracking_code(case.number)  # as issued, whatever the case and dashes typed
        rules = publication.Rules()
        work = publication.work_case(case)
        shown = publication.disclose([work], rules)[0]
        photos = publication.verified_after_photos(work, rules.decide(work.category_id, work.source))
        return {"number": case.number, "code": code, "case": shown, "merged": work.pk != case.pk,
                "steps": publication.steps(case),
                "photos": [f"{reverse('frontend:track-photo', args=[case.number, p.pk])}?"
                           f"{urlencode({'code': code})}" for p in photos],
                "point": [shown.lon, shown.lat] if shown.lon is not None else None}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["page_config"]["point"] = kwargs.get("point")  # the case on the map, as published (or none)
        return context


def track_photo(request, number: str, pk: int):
    """An after-photo of a verified case, to whoever holds the case's tracking code, if the rule shows it."""
    from django.http import FileResponse, Http404

    from incidents import publication
    from incidents.public_views import limited
    from incidents.tracking import code_matches

    if limited(request, "public-read", settings.PUBLIC_READ_RATE):
        from django.http import HttpResponse

        return HttpResponse(status=429)
    case = Track._case(number) if code_matches(number, request.GET.get("code", "")) else None
    if case is None:
        raise Http404
    work = publication.work_case(case)
    photo = next((p for p in publication.verified_after_photos(work) if p.pk == pk), None)
    if photo is None:
        raise Http404
    response = FileResponse(photo.image.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    return response


class PublicMap(PublicPage):
    """The public map of recent cases (FixMyStreet-like), as the publication rule shows them."""

    template_name = "frontend/public_map.html"

    def page_config(self) -> dict:
        return {"apiCases": reverse("public:cases"),
                "text": {"open": _("Open"), "closed": _("Closed"), "none": _("No published case here."),
                         "reported": _("reported"), "cases": _("cases")}}


class Warnings(Page):
    """Early warning (预警) for the command centres: issue with the area drawn on the map, the warnings in force and
    past, update and cancel (dispatchers); leaders read. Drills are marked wherever they show."""

    template_name = "frontend/warnings.html"

    def page_config(self) -> dict:
        return {"apiWarnings": reverse("alerts:warning-list"), "apiTypes": reverse("alerts:types"),
                "apiAreas": reverse("grids:area-list"), "incident": self.incident(),
                "text": {"drill": _("Drill"), "inForce": _("In force"), "none": _("No warning here."),
                         "drillFollowsIncident": _("A warning for an incident is a drill exactly when the incident "
                                                   "is one."),
                         "issued": _("Warning issued."), "updated": _("Warning updated."),
                         "cancelled": _("Warning cancelled."), "needArea": _("Draw the area on the map: click "
                                                                             "the corners, then Finish area."),
                         "conflict": _("Someone else changed this warning meanwhile; it is shown afresh."),
                         "points": _("corners"), "effective": _("Effective"), "expires": _("Expires"),
                         "issuer": _("Issued by"), "log": _("Log"), "cap": _("CAP document"),
                         "references": _("references"), "by": _("by"), "area": _("Area"),
                         "forIncident": _("For the incident"),
                         "network": _("No answer from the server; try again.")}}

    def incident(self) -> dict | None:
        """?incident=NUMBER, from the incident board: the form opens with its area, posts to the incident (which ties
        the warning to it and makes a drill's a drill) and goes back to the board. A number the user may not command
        or that is not open is ignored: the page is the plain warnings page."""
        from emergency.command import may_command
        from emergency.scoping import visible_incidents

        number = self.request.GET.get("incident", "")[:20]
        found = visible_incidents(self.request.user).filter(number=number).first() if number else None
        if found is None or not found.is_open or not may_command(self.request.user, found):
            return None
        return {"number": found.number, "title": found.title, "drill": found.drill,
                "area": json.loads(found.area.geojson), "api": f"/api/emergency/incidents/{found.number}/warning/",
                "board": f"/emergency/{found.number}/"}


class PublicWarnings(PublicPage):
    """The warnings in force on a map, for anyone: never a drill."""

    template_name = "frontend/public_warnings.html"

    def page_config(self) -> dict:
        return {"apiWarnings": reverse("warnings-public:in-force"), "feedUrl": reverse("warnings-public:feed"),
                "text": {"none": _("No warning in force."), "effective": _("Effective"), "expires": _("Expires"),
                         "issuer": _("Issued by"), "instruction": _("What to do"), "cap": _("CAP document")}}
# ---- Emergency command (issue 17) --------------------------------------------------------------------------



def incident_task_config(request) -> dict:
    """The emergency tasks' section of the workbench and the crew's page (frontend/incident_tasks.js)."""
    from dispatch.scoping import crew_unit_id

    return {"apiTasks": reverse("emergency:task-list"), "crew": bool(crew_unit_id(request.user)),
            "apiUnits": reverse("dispatch:unit-list"),
            "text": {"title": _("Emergency tasks"), "none": _("No emergency task."), "acknowledge": _("Acknowledge"),
                     "done": _("Report done"), "assign": _("Send a crew"), "note": _("What was done"),
                     "due": _("due"), "overdue": _("overdue"), "escalated": _("Escalated (督办)"),
                     "drill": _("DRILL"), "newTask": _("New emergency task"), "crew": _("Crew"),
                     "conflict": _("This task changed meanwhile; it has been reloaded.")}}


class EmergencyPage(Page):
    """Incidents in the user's scope (open first, drills marked) and, for dispatchers, opening one: by hand on the
    map, from an emergency case, or from a sensor in alarm."""

    template_name = "frontend/emergency.html"

    def get_context_data(self, **kwargs):
        from emergency.models import EventType, Level

        return {**super().get_context_data(**kwargs), "event_types": EventType.objects.all(),
                "levels": Level.choices, "may_open": allows(self.request.user, "POST", "emergency:incident-list"),
                "case": self.request.GET.get("case", "")[:20]}

    def page_config(self) -> dict:
        from incidents.scoping import user_district_id

        district = Area.objects.filter(pk=user_district_id(self.request.user)).first()
        return {"mode": "list", "apiIncidents": reverse("emergency:incident-list"), "board": "/emergency/",
                "apiAreas": reverse("grids:area-list"),
                "home": district.geom.extent if district else None, "text": emergency_text()}


class IncidentBoardPage(Page):
    """The incident board (事件指挥看板): the map with the area, the cases in it, units, resources, sensors in alarm
    and pipes; the tasks with their deadlines; the timeline; the decisions the user may take."""

    template_name = "frontend/incident_board.html"

    def get_context_data(self, **kwargs):
        from alerts.scoping import may_issue
        from citygrid.scopes import scoped_object
        from emergency.command import may_command
        from emergency.models import Level, Status

        incident = scoped_object(self.request)
        user = self.request.user
        return {**super().get_context_data(**kwargs), "incident": incident, "levels": Level.choices,
                "statuses": Status.choices,
                "may_warn": incident.is_open and may_command(user, incident) and may_issue(user)}

    def page_config(self) -> dict:
        from citygrid.scopes import scoped_object
        from emergency.command import may_command

        incident = scoped_object(self.request)
        base = f"/api/emergency/incidents/{incident.number}/"
        # The decisions by the rules that take them: the centres, the commander and the headquarters' people (a
        # bureau's staff member sitting on the headquarters included); offered cases are the centres' to take in.
        return {"mode": "board", "number": incident.number, "apiBoard": base + "board/", "apiAction": base,
                "apiOffered": base + "offered-cases/", "report": f"/emergency/{incident.number}/report/",
                "mayCommand": may_command(self.request.user, incident),
                "mayTakeIn": allows(self.request.user, "GET", "emergency:offered-cases"), "text": emergency_text()}


class IncidentReportPage(Page):
    """A situation report (首报/续报/终报) as a page that prints cleanly on A4, with its PDF."""

    template_name = "frontend/incident_report.html"

    def get_context_data(self, **kwargs):
        from citygrid.scopes import scoped_object
        from emergency import reports

        incident = scoped_object(self.request)
        kind = self.request.GET.get("kind") or reports.default_kind(incident)
        if kind not in reports.KINDS:
            kind = reports.default_kind(incident)
        return {**super().get_context_data(**kwargs), "incident": incident, "kind": kind,
                "kinds": [("first", _("First report")), ("followup", _("Follow-up report")),
                          ("final", _("Final report"))],
                "document": reports.render_html(incident, kind, standalone=False),
                "pdf_url": f"/api/emergency/incidents/{incident.number}/report/?kind={kind}&as=pdf"}


def emergency_text() -> dict:
    from emergency.board import ACTION_LABELS

    return {"actions": {k: str(v) for k, v in ACTION_LABELS.items()}, "drill": _("DRILL"),
            "none": _("No incident."), "level": _("Level"), "status": _("Status"), "opened": _("Opened"),
            "tasks": _("Tasks"), "due": _("due"), "overdue": _("overdue"), "escalated": _("Escalated (督办)"),
            "cases": _("Cases in the area"), "units": _("Units"), "resources": _("Resources"),
            "sensors": _("Sensors in alarm"), "pipes": _("Pipes in the area"), "components": _("components"),
            "mobilise": _("Mobilise"), "mobilised": _("mobilised"), "addCase": _("Take in"),
            "offered": _("Cases reported in the area"), "suggested": _("Suggested plan"),
            "drawArea": _("Click on the map to draw the area; double-click to finish."),
            "saved": _("Done."), "capacity": _("capacity"), "more": _("more not drawn"),
            "conflict": _("Someone changed this incident meanwhile; it has been reloaded.")}
