"""What the public gets, without an account and rate-limited per address like the other public pages: the
warnings in force as GeoJSON (for the public map), their Atom index, and each published CAP document. Drills
are never here: not in the list, not in the feed, and their CAP documents answer 404 as if they did not exist."""

import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_ratelimit.core import is_ratelimited

from citygrid.audit import record
from citygrid.policy import allows
from grids.models import Area, Level

from . import cap, rules
from .models import LEVEL_COLOURS, LEVEL_ORDER, WarningLevel, WarningLog
from .views import state_label

RATE_GROUP = "public-read"  # the same count as the public map and tracking pages


def _limited(request: HttpRequest) -> HttpResponse | None:
    if not allows(request.user, request.method, request.resolver_match.view_name):
        return HttpResponse(status=403)
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    if is_ratelimited(request, group=RATE_GROUP, key=lambda g, r: f"ip:{r.META.get('REMOTE_ADDR', '')}",
                      rate=lambda g, r: settings.PUBLIC_READ_RATE, increment=True):
        record("rate_limited", request=request, target=request.path[:200], result="denied")
        return HttpResponse(_("Too many requests; wait a minute and try again."), status=429,
                            content_type="text/plain; charset=utf-8")
    return None


def public_view(view):
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return _limited(request) or view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def _in_force_with_latest():
    warnings = list(rules.published().select_related("type", "district").order_by("-issued_at"))
    latest: dict[int, WarningLog] = {}
    for entry in WarningLog.objects.filter(warning__in=warnings).order_by("warning_id", "seq"):
        latest[entry.warning_id] = entry
    return [(w, latest[w.pk]) for w in warnings if w.pk in latest]


def _issuer(warning) -> str:
    return warning.district.name if warning.district_id else _("City command centre")


@public_view
def warnings_in_force(request: HttpRequest) -> JsonResponse:
    """GeoJSON of the warnings in force (not drills), the most severe first."""
    rows = sorted(_in_force_with_latest(),
                  key=lambda pair: (-LEVEL_ORDER[pair[0].level], -pair[0].issued_at.timestamp()))
    features = [{
        "type": "Feature", "id": w.pk, "geometry": json.loads(w.area.geojson),
        "properties": {"type_name": w.type.name, "level": w.level, "level_label": WarningLevel(w.level).label,
                       "colour": LEVEL_COLOURS[w.level], "headline": w.headline, "description": w.description,
                       "instruction": w.instruction, "area_desc": w.area_desc, "issuer": _issuer(w),
                       "state_label": state_label(w),
                       "effective": timezone.localtime(w.effective).isoformat(),
                       "expires": timezone.localtime(w.expires).isoformat(),
                       "updated": timezone.localtime(latest.sent).isoformat(),
                       "cap_url": reverse("warnings-public:cap", args=[latest.identifier])}}
        for w, latest in rows]
    # The districts' outlines, for the reader to find his way on a map that may have no tiles (an intranet).
    districts = [json.loads(a.geom.simplify(0.002, preserve_topology=True).geojson)
                 for a in Area.objects.filter(level=Level.DISTRICT).only("geom")]
    return JsonResponse({"type": "FeatureCollection", "features": features, "districts": districts,
                         "feed_url": reverse("warnings-public:feed")}, encoder=DjangoJSONEncoder,
                        json_dumps_params={"ensure_ascii": False})


@public_view
def feed(request: HttpRequest) -> HttpResponse:
    """The Atom index of the warnings in force: one entry each, linking its latest CAP document."""
    rows = _in_force_with_latest()
    with translation.override("zh-hans"):  # the published documents are Chinese, whatever the reader's language
        entries = [{"identifier": latest.identifier, "title": f"[{WarningLevel(w.level).label}] {w.headline}",
                    "updated": latest.sent, "published": w.issued_at, "author": _issuer(w),
                    "summary": w.description, "level": w.level, "level_label": str(WarningLevel(w.level).label),
                    "cap_url": request.build_absolute_uri(reverse("warnings-public:cap", args=[latest.identifier]))}
                   for w, latest in rows]
        title = _("Warnings in force")
    updated = max((e["updated"] for e in entries), default=None) or timezone.now()
    text = cap.atom(entries=entries, self_url=request.build_absolute_uri(reverse("warnings-public:feed")),
                    page_url=request.build_absolute_uri(reverse("frontend:public-warnings")), title=str(title),
                    updated=updated)
    return HttpResponse(text, content_type="application/atom+xml; charset=utf-8")


@public_view
def cap_document(request: HttpRequest, identifier: str) -> HttpResponse:
    """One published CAP document — an issue, an update or a cancel, in force or past; never a drill's."""
    entry = WarningLog.objects.filter(identifier=identifier, warning__exercise=False).only("cap_xml").first()
    if entry is None:
        raise Http404
    return HttpResponse(entry.cap_xml, content_type=f"{cap.CAP_MEDIA_TYPE}; charset=utf-8")
