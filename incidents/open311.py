"""Open311 GeoReport v2 server (https://wiki.open311.org/GeoReport_v2) with its service discovery
(https://wiki.open311.org/Service_Discovery): services map to catalogue subclasses, service requests to cases;
JSON and XML; the spec's error format. What a GET shows of a case — whether it is listed at all, where, with
its description or not — is the publication rule's (incidents.publication), the same as the public map's and
the tracking page's; never personal data."""

import secrets
from datetime import timedelta
from xml.etree import ElementTree as ET

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from citygrid.audit import record
from citygrid.models import hash_token

from . import intake, publication
from .models import PUBLIC_SOURCES, Case, CaseKey, Category, Open311Client, Source, Urgency

MAX_RESULTS = 1000
# Intake's field names as GeoReport v2 calls them, for error messages a client's developer can act on.
OPEN311_FIELDS = {"category": "service_code", "location": "lat/long", "address": "address_string",
                  "contact_name": "first_name/last_name", "contact_phone": "phone", "contact_email": "email"}
DEFAULT_WINDOW = timedelta(days=90)


class Open311Error(Exception):
    def __init__(self, code: int, description: str):
        super().__init__(description)
        self.code, self.description = code, description


def new_key() -> str:
    return secrets.token_urlsafe(24)


def hash_key(key: str) -> str:
    return hash_token(key)


def issue_client_key(name: str) -> tuple[Open311Client, str]:
    key = new_key()
    return Open311Client.objects.create(name=name, key_hash=hash_key(key)), key


def _xml_value(parent: ET.Element, tag: str, value) -> None:
    node = ET.SubElement(parent, tag)
    if isinstance(value, list):
        item_tag = {"values": "value", "attributes": "attribute", "keywords": "keyword", "endpoints": "endpoint",
                    "formats": "format"}.get(tag, "item")
        for item in value:
            if isinstance(item, dict):
                child = ET.SubElement(node, item_tag)
                for k, v in item.items():
                    _xml_value(child, k, v)
            else:
                ET.SubElement(node, item_tag).text = str(item)
    elif isinstance(value, bool):
        node.text = "true" if value else "false"
    elif value is not None:
        node.text = str(value)


def _render(fmt: str, data, root: str, item: str, status: int = 200) -> HttpResponse:
    if fmt == "json":
        return JsonResponse(data, safe=False, status=status, json_dumps_params={"ensure_ascii": False})
    top = ET.Element(root)
    for entry in data if isinstance(data, list) else [data]:
        node = ET.SubElement(top, item) if isinstance(data, list) else top
        for key, value in entry.items():
            _xml_value(node, key, value)
    body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8")
    return HttpResponse(body, status=status, content_type="text/xml; charset=utf-8")


def _error(fmt: str, code: int, description: str) -> HttpResponse:
    return _render(fmt if fmt in ("json", "xml") else "json", [{"code": code, "description": description}],
                   "errors", "error", status=code)


def _endpoint(view):
    def wrapper(request, *args, fmt: str, **kwargs):
        if fmt not in ("json", "xml"):
            return _error("json", 404, f"unsupported format {fmt!r}: use .json or .xml")
        jurisdiction = request.GET.get("jurisdiction_id") or request.POST.get("jurisdiction_id")
        if jurisdiction and jurisdiction != settings.OPEN311_JURISDICTION_ID:
            return _error(fmt, 404, f"unknown jurisdiction_id {jurisdiction!r}")
        # Reading counts per address; a POST counts against its api_key and its address both, so invented keys
        # buy an address nothing.
        limited = is_ratelimited(request, group="open311", key=_address, rate=lambda g, r: settings.OPEN311_RATE,
                                 increment=True)
        if request.method == "POST":
            limited = is_ratelimited(request, group="open311-key", key=_client_key,
                                     rate=lambda g, r: settings.OPEN311_RATE, increment=True) or limited
        if limited:
            record("rate_limited", request=request, target=request.path[:200], result="denied")
            return _error(fmt, 429, "too many requests: wait a minute and try again")
        try:
            return view(request, *args, fmt=fmt, **kwargs)
        except Open311Error as exc:
            return _error(fmt, exc.code, exc.description)

    wrapper.__name__ = view.__name__
    return csrf_exempt(wrapper)


def _address(group: str, request) -> str:
    return f"ip:{request.META.get('REMOTE_ADDR', '')}"


def _client_key(group: str, request) -> str:
    return f"key:{hash_key(request.POST.get('api_key') or '')}"


def _service(category: Category) -> dict:
    return {"service_code": category.code, "service_name": category.name_zh,
            "description": f"{category.name_en} ({category.parent.name_zh} / {category.parent.name_en})",
            "metadata": True, "type": "realtime", "keywords": ", ".join([category.name_zh, category.name_en]),
            "group": category.parent.name_zh}


def _services():
    return Category.objects.filter(parent__isnull=False, active=True).select_related("parent").order_by("code")


@_endpoint
@require_http_methods(["GET"])
def services(request, fmt: str):
    return _render(fmt, [_service(c) for c in _services()], "services", "service")


@_endpoint
@require_http_methods(["GET"])
def service_definition(request, code: str, fmt: str):
    category = _services().prefetch_related("time_limits").filter(code=code).first()
    if category is None:
        raise Open311Error(404, f"service_code {code} not found")
    urgencies = [t.urgency for t in category.time_limits.all()]
    values = [{"key": u, "name": str(Urgency(u).label)} for u in Urgency.values if u in urgencies]
    return _render(fmt, {"service_code": category.code, "attributes": [{
        "variable": True, "code": "urgency", "datatype": "singlevaluelist", "required": False,
        "datatype_description": "", "order": 1, "description": "紧急程度 / urgency", "values": values}]},
        "service_definition", "")


def _request(shown: publication.PublicCase) -> dict:
    """A published case as a GeoReport v2 service request, as the publication rule shows it."""
    return {
        "service_request_id": shown.number, "status": shown.open311_status,
        "status_notes": str(shown.status_label), "service_name": shown.category_name,
        "service_code": shown.category_code, "description": shown.description,
        "agency_responsible": shown.bureau, "service_notice": "",
        "requested_datetime": shown.created_at.isoformat(timespec="seconds"),
        "updated_datetime": shown.updated_at.isoformat(timespec="seconds"),
        "expected_datetime": shown.expected_at.isoformat(timespec="seconds") if shown.expected_at else "",
        "address": shown.place, "address_id": "", "zipcode": "",
        "lat": shown.lat if shown.lat is not None else "", "long": shown.lon if shown.lon is not None else "",
        "media_url": "",
    }


def _requests(qs, rules: publication.Rules) -> list[dict]:
    return [_request(p) for p in publication.disclose(list(publication.public_related(qs)), rules)]


def _date_param(params, name: str):
    """A w3 date-time between 2000 and 2100 (an impossible date such as 30 February is a 400, not a 500)."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None or not 2000 <= value.year <= 2100:
        raise Open311Error(400, f"{name} must be a w3 date-time between 2000 and 2100, e.g. 2026-11-25T08:00:00+08:00")
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def _published(rules: publication.Rules):
    return publication.published_cases(rules=rules)


@_endpoint
@require_http_methods(["GET", "POST"])
def requests(request, fmt: str):
    if request.method == "POST":
        return _create(request, fmt)
    rules = publication.Rules()
    qs = _published(rules)
    params = request.GET
    if params.get("service_request_id"):
        ids = [i.strip() for i in params["service_request_id"].split(",") if i.strip()]
        return _render(fmt, _requests(qs.filter(number__in=ids[:MAX_RESULTS])[:MAX_RESULTS], rules),
                       "service_requests", "request")
    if params.get("service_code"):
        qs = qs.filter(category__code__in=[c.strip() for c in params["service_code"].split(",")])
    start_at, end_at = _date_param(params, "start_date"), _date_param(params, "end_date")
    if start_at is None:
        start_at = (end_at or timezone.now()) - DEFAULT_WINDOW
    qs = qs.filter(created_at__gte=start_at)
    if end_at is not None:
        qs = qs.filter(created_at__lte=end_at)
    if params.get("status"):
        wanted = {s.strip() for s in params["status"].split(",")}
        if not wanted <= {"open", "closed"}:
            raise Open311Error(400, "status must be open, closed or both")
        if wanted == {"open"}:
            qs = qs.exclude(status__in=publication.OPEN311_CLOSED)
        elif wanted == {"closed"}:
            qs = qs.filter(status__in=publication.OPEN311_CLOSED)
    return _render(fmt, _requests(qs.order_by("-created_at")[:MAX_RESULTS], rules), "service_requests", "request")


@_endpoint
@require_http_methods(["GET"])
def request_detail(request, number: str, fmt: str):
    rules = publication.Rules()
    found = _requests(_published(rules).filter(number=number), rules)
    if not found:  # unpublished cases are not there for the public, as if they did not exist
        raise Open311Error(404, f"service_request_id {number} not found")
    return _render(fmt, found, "service_requests", "request")


@_endpoint
@require_http_methods(["GET"])
def token(request, token: str, fmt: str):
    # Only what the public reported answers: a staff report's client id (an inspector's phone, the hotline) is
    # nobody's token here, and its number is not for the public.
    # Found by the case key (one index, whatever the months), then in its own month.
    key = CaseKey.objects.filter(client_uuid=token).values_list("id", "created_at").first() if _is_uuid(token) else None
    number = key and (Case.objects.filter(pk=key[0], created_at=key[1], source__in=PUBLIC_SOURCES)
                      .values_list("number", flat=True).first())
    if not number:
        raise Open311Error(404, f"token {token} not found")
    return _render(fmt, [{"service_request_id": number, "token": token}], "service_requests", "request")


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _number(raw: str | None, name: str) -> float | None:
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be a number") from exc


def _create(request, fmt: str) -> HttpResponse:
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        # GeoReport v2 posts forms; an XML or JSON body is never parsed (no entity expansion, no surprises).
        raise Open311Error(400, "POST the request as application/x-www-form-urlencoded or multipart/form-data")
    data = request.POST
    key = data.get("api_key") or ""
    client = Open311Client.objects.filter(key_hash=hash_key(key), active=True).first()
    if not key or client is None:
        record("open311_post", request=request, username=f"api_key {key[:4]}…" if key else "", result="denied",
               detail="invalid api_key")
        raise Open311Error(403, "invalid api_key")
    if not data.get("service_code"):
        raise Open311Error(400, "service_code is required")
    lat, lon = _number(data.get("lat"), "lat"), _number(data.get("long"), "long")
    if lat is None or lon is None:
        raise Open311Error(400, "lat and long are required (this jurisdiction does not geocode address_string)")
    name = " ".join(x for x in (data.get("last_name", ""), data.get("first_name", "")) if x)
    report = intake.Report(
        lon=lon, lat=lat, category=data["service_code"], source=Source.OPEN311,
        description=data.get("description", ""), urgency=data.get("attribute[urgency]") or Urgency.NORMAL,
        address=data.get("address_string", ""), contact_name=name, contact_phone=data.get("phone", ""),
        contact_email=data.get("email", ""))
    try:
        result = intake.submit(report)
    except intake.IntakeError as exc:
        field, messages = next(iter(exc.errors.items()))
        field = OPEN311_FIELDS.get(field, field)
        raise Open311Error(404 if field == "service_code" else 400, f"{field}: {' '.join(messages)}") from exc
    return _render(fmt, [{"service_request_id": result.case.number,
                          "service_notice": f"已受理，案件编号 {result.case.number}", "account_id": None}],
                   "service_requests", "request")


# Service discovery: the changeset says when the list of services or their definitions last changed, so
# that clients know when to refresh what they cache. The catalogue has no change time of its own: the day this
# format of the list was last changed is given here.
DISCOVERY_CHANGESET = "2026-11-26T00:00:00+08:00"


@_endpoint
@require_http_methods(["GET"])
def discovery(request, fmt: str):
    """The jurisdiction's Open311 service discovery (discovery.json, discovery.xml)."""
    from django.urls import reverse

    # The base URL of GeoReport v2, to which a client appends services.json and the rest.
    endpoint = request.build_absolute_uri(reverse("open311:services", args=["xml"])).removesuffix("/services.xml")
    return _render(fmt, {
        "changeset": DISCOVERY_CHANGESET, "contact": settings.OPEN311_CONTACT,
        "key_service": settings.OPEN311_KEY_SERVICE,
        "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": endpoint,
                       "changeset": DISCOVERY_CHANGESET, "type": "production",
                       "formats": ["text/xml", "application/json"]}]}, "discovery", "")
