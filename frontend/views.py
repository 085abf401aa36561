"""The pages. Each is a template and one script; the data comes from the API, so a page shows what its
user's policy and scope allow and nothing more."""

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView

from citygrid import roles
from citygrid.policy import PolicyPageMixin, allows
from citygrid.roles import ROLE_LABELS, user_roles

# The pages a role lands on, first match wins; others see the grid map.
LANDING = ((roles.INSPECTOR, "frontend:inspector"), (roles.DISPATCHER, "frontend:console"),
           (roles.OPERATOR, "frontend:console"), (roles.LEADER, "frontend:dashboard"),
           (roles.AUDITOR, "audit-trail"))
# Lazy: translated per request, in the language the user chose.
NAV = (("frontend:map", gettext_lazy("Grid map")), ("frontend:inspector", gettext_lazy("Report")),
       ("frontend:console", gettext_lazy("Command console")), ("frontend:dashboard", gettext_lazy("Dashboard")),
       ("audit-trail", gettext_lazy("Audit trail")))


def map_config() -> dict:
    from django.templatetags.static import static

    # Leaflet finds its default marker images next to leaflet.css by name, which hashed names break: the pages
    # are told where they are.
    icons = {"iconUrl": static("leaflet/images/marker-icon.png"),
             "iconRetinaUrl": static("leaflet/images/marker-icon-2x.png"),
             "shadowUrl": static("leaflet/images/marker-shadow.png")}
    return {"tileUrl": settings.TILE_URL, "tileAttribution": settings.TILE_ATTRIBUTION,
            "tileDatum": settings.TILE_DATUM, "markerIcons": icons}


class Page(PolicyPageMixin, TemplateView):
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["roles"] = [ROLE_LABELS[r] for r in sorted(user_roles(self.request.user))]
        context["nav"] = [(reverse(name), label) for name, label in NAV
                          if name != self.request.resolver_match.view_name and allows(self.request.user, "GET", name)]
        context["map_config"] = map_config()
        context["page_config"] = {**map_config(), **self.page_config()}
        return context

    def page_config(self) -> dict:
        return {}



def home(request):
    """Each role's own page; the grid map for the others."""
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next=/")
    held = user_roles(request.user)
    target = next((name for role, name in LANDING if role in held), "frontend:map")
    return redirect(target)


class GridMap(Page):
    """The city grid on a map: areas by level, cells when zoomed in, click to locate a point."""

    template_name = "frontend/grid_map.html"


class Inspector(Page):
    """The inspector's phone: report with position, category and photo (queued offline), my cases, verification."""

    template_name = "frontend/inspector.html"

    def page_config(self) -> dict:
        return {"apiLocate": reverse("grids:locate"), "apiCatalogue": reverse("incidents:catalogue"),
                "apiCells": reverse("grids:cell-list"),
                "apiCases": reverse("incidents:case-list"), "apiMine": reverse("incidents:my-cases"),
                "apiTasks": reverse("incidents:verification-tasks"), "apiCase": "/api/cases/",
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
                         "pass": _("Passed"), "fail": _("Not fixed"), "afterPhoto": _("After")}}


INSPECTOR_ASSETS = ("frontend/citygrid.css", "leaflet/leaflet.css", "leaflet/leaflet.js",
                    "leaflet/images/marker-icon.png", "leaflet/images/marker-icon-2x.png",
                    "leaflet/images/marker-shadow.png", "frontend/datum.js",
                    "frontend/common.js", "frontend/inspector.js")


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

        return {**super().get_context_data(**kwargs), "statuses": Status.choices, "urgencies": Urgency.choices}

    def page_config(self) -> dict:
        from incidents.models import FINAL_STATUSES, Status, Urgency

        return {"apiCases": reverse("incidents:case-list"), "apiCase": "/api/cases/",
                "urgencies": {value: str(label) for value, label in Urgency.choices},
                "openStatuses": [s.value for s in Status if s not in FINAL_STATUSES],
                "apiStream": reverse("dispatch:stream"), "apiEvents": reverse("dispatch:events"),
                "apiCells": reverse("grids:cell-list"), "apiAreas": reverse("grids:area-list"),
                "apiBureaus": reverse("grids:bureau-list"), "apiCatalogue": reverse("incidents:catalogue"),
                "apiUnits": "/api/dispatch/cases/", "canDispatchUnits": roles.DISPATCHER in user_roles(
                    self.request.user),
                "actions": {"register": _("Register"), "reject": _("Do not register"), "dispatch": _("Dispatch"),
                            "return": _("Return"), "approve_postponement": _("Approve postponement"),
                            "deny_postponement": _("Deny postponement"), "merge": _("Merge"), "close": _("Close"),
                            "cancel": _("Cancel"), "accept": _("Accept")},
                "text": {"conflict": _("Someone changed this case meanwhile; it has been reloaded. Check it and "
                                       "try again."),
                         "deadline": _("deadline"), "routing": _("Routing"), "duplicates": _("Likely duplicates"),
                         "bureau": _("Bureau to dispatch to"), "into": _("Merge into"),
                         "note": _("Note (the reason, when dispatching elsewhere than the rule)"), "log": _("Log"),
                         "emergency": _("Emergency reported"), "reason": _("Reason"),
                         "nearest": _("Nearest available units"), "send": _("Send"),
                         "noUnits": _("No available unit nearby."), "none": _("No cases match.")}}


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
        return {"apiHeat": reverse("dispatch:dashboard-heat"),
                "apiChoropleth": reverse("dispatch:dashboard-choropleth"),
                "apiArea": "/api/dispatch/dashboard/areas/", "apiKpis": reverse("dispatch:dashboard-kpis"),
                "apiEvaluation": reverse("dispatch:evaluation"), "apiCatalogue": reverse("incidents:catalogue"),
                "apiAreas": reverse("grids:area-list"),
                "columns": {"bureau": _("Bureau"), "name": _("Name"), "overdue": _("Overdue"), "rank": _("Rank"),
                            "code": _("Code"), "score": _("Score"), "reported": _("Reported"), "closed": _("Closed"),
                            "on_time_rate": _("On-time rate")},
                "text": {"intake": _("Reported"), "closed": _("Closed"), "onTime": _("On-time rate"),
                         "overdue": _("Overdue now"), "cases": _("cases"), "noData": _("No cases in this period.")}}
