"""The public's own small endpoints (no account): the catalogue to report under, where a point lies, a report
from the public web page (source `web`, the same intake as Open311), and the recent published cases for the
public map. Everything a case shows passes the publication rule (incidents.publication); nothing here reads
a staff endpoint. Reads and reports are rate-limited per address (django-ratelimit, as Open311 is)."""

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django_ratelimit.core import is_ratelimited

from citygrid.audit import record
from citygrid.policy import allows
from grids.locate import locate_many

from . import intake, publication
from .models import Case, Category, Source, Status, Urgency
from .tracking import tracking_code

MAP_MAX = 1000  # the newest published cases the public map shows
MAP_DAYS_MAX = 90


def _address(group: str, request: HttpRequest) -> str:
    return f"ip:{request.META.get('REMOTE_ADDR', '')}"


def limited(request: HttpRequest, group: str, rate: str) -> bool:
    """Count this request against its address; True (and recorded) when over the rate."""
    if is_ratelimited(request, group=group, key=_address, rate=lambda g, r: rate, increment=True):
        record("rate_limited", request=request, target=request.path[:200], result="denied")
        return True
    return False


def _json(data, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, safe=False, json_dumps_params={"ensure_ascii": False})


def public_endpoint(methods: tuple[str, ...], group: str, rate: Callable[[], str]):
    """A public JSON endpoint: its declared policy (public), its methods, its rate per address."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in methods:
                return _json({"detail": _("Method not allowed.")}, status=405)
            if not allows(request.user, request.method, request.resolver_match.view_name):
                return _json({"detail": _("Not allowed.")}, status=403)
            if limited(request, group, rate()):
                return _json({"detail": _("Too many requests; wait a minute and try again.")}, status=429)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _read_rate() -> str:
    return settings.PUBLIC_READ_RATE


def _report_rate() -> str:
    return settings.PUBLIC_REPORT_RATE


@public_endpoint(("GET",), "public-read", _read_rate)
def catalogue(request: HttpRequest) -> HttpResponse:
    """The subclasses a citizen can report under, with their major class."""
    rows = (Category.objects.filter(parent__isnull=False, active=True).select_related("parent")
            .order_by("parent__code", "code"))
    return _json({"results": [{"code": c.code, "name": c.name_zh, "major": c.parent.code,
                               "major_name": c.parent.name_zh} for c in rows]})


def _point(params, errors: dict) -> tuple[float | None, float | None]:
    values = []
    for name, low, high in (("lon", -180, 180), ("lat", -90, 90)):
        try:
            value = float(params.get(name, ""))
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            errors[name] = [_("A number between %(low)s and %(high)s is required.") % {"low": low, "high": high}]
            value = None
        values.append(value)
    return values[0], values[1]


@public_endpoint(("GET",), "public-read", _read_rate)
def locate(request: HttpRequest) -> HttpResponse:
    """Whether a point lies in the city, and the names of its community, street and district."""
    errors: dict[str, list[str]] = {}
    lon, lat = _point(request.GET, errors)
    if errors:
        return _json(errors, status=400)
    found = locate_many([(lon, lat)])[0]
    if found is None or "district" not in found.areas:
        return _json({"inside": False, "detail": _("This location is outside the city's jurisdiction.")})
    outline = None
    if found.cell_id:  # the cell's outline, drawn around the point as the inspector's page does
        from grids.models import Cell

        geom = Cell.objects.filter(pk=found.cell_id).values_list("geom", flat=True).first()
        outline = json.loads(geom.geojson) if geom is not None else None
    return _json({"inside": True, "outline": outline, **{level: found.areas[level].name if level in found.areas
                                                         else "" for level in ("district", "street", "community")}})


@public_endpoint(("POST",), "public-report", _report_rate)
def report(request: HttpRequest) -> HttpResponse:
    """A report from the public web page: position, category, description, an optional place description and
    contact, photos (checked as every upload: decoded, size, pixels, count). 201 with the case number and its
    tracking code; the same answer to a retry with the same client_uuid."""
    data, errors = request.POST, {}
    lon, lat = _point(data, errors)
    client_uuid = None
    if data.get("client_uuid"):
        try:
            client_uuid = uuid.UUID(data["client_uuid"])
        except ValueError:
            errors["client_uuid"] = [_("Not a UUID.")]
    if errors:
        return _json(errors, status=400)
    if client_uuid is not None:
        existing = Case.objects.filter(client_uuid=client_uuid).first()
        if existing is not None and existing.source != Source.WEB:  # not this page's report: says nothing of it
            return _json({"client_uuid": [_("Already used.")]}, status=400)
    submitted = intake.Report(
        lon=lon, lat=lat, category=data.get("category") or None, source=Source.WEB, client_uuid=client_uuid,
        description=data.get("description", ""), urgency=Urgency.NORMAL, address=data.get("address", ""),
        contact_name=data.get("contact_name", ""), contact_phone=data.get("contact_phone", ""),
        photos=request.FILES.getlist("photos"))
    try:
        result = intake.submit(submitted)
    except intake.IntakeError as exc:
        return _json(exc.errors, status=400)
    number = result.case.number
    return _json({"number": number, "code": tracking_code(number), "created": result.created},
                 status=201 if result.created else 200)


@public_endpoint(("GET",), "public-read", _read_rate)
def cases(request: HttpRequest) -> HttpResponse:
    """The newest published cases of the last `days` (30; at most 90) as GeoJSON, each as the publication rule
    shows it: at most MAP_MAX, optionally `status=open|closed` and `category` (a subclass or major class). No
    spatial filter on purpose: a query by a tiny box around a snapped point would give the exact point away."""
    params, errors = request.GET, {}
    try:
        days = int(params.get("days", 30))
    except ValueError:
        days = 0
    if not 1 <= days <= MAP_DAYS_MAX:
        errors["days"] = [_("Between %(low)d and %(high)d.") % {"low": 1, "high": MAP_DAYS_MAX}]
    wanted = params.get("status", "")
    if wanted not in ("", "open", "closed"):
        errors["status"] = [_("open or closed.")]
    if errors:
        return _json(errors, status=400)
    rules = publication.Rules()
    # Merged, withdrawn and refused reports are not problems on the street: the map leaves them out.
    recent = Case.objects.filter(created_at__gte=timezone.now() - timedelta(days=days)).exclude(
        status__in=[Status.MERGED, Status.CANCELLED, Status.REJECTED])
    qs = publication.published_cases(recent, rules)
    if wanted:
        closed = Q(status__in=publication.OPEN311_CLOSED)
        qs = qs.filter(closed) if wanted == "closed" else qs.exclude(closed)
    if params.get("category"):
        code = params["category"][:10]
        qs = qs.filter(Q(category__code=code) | Q(category__parent__code=code))
    shown = publication.disclose(list(publication.public_related(qs).order_by("-created_at")[:MAP_MAX]), rules)
    return _json({"type": "FeatureCollection", "count": len(shown), "limited": len(shown) >= MAP_MAX,
                  "features": [p.feature() for p in shown if p.lon is not None]})
