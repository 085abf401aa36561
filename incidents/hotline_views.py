"""The hotline desk's API (12345 / 12319 受理员): likely duplicates of a call before it is saved, the caller's
earlier cases, and the callbacks (回访). Who may call what: citygrid.policy; every answer is scoped to the
cases the user may see."""

from django.contrib.gis.db.models.functions import Distance
from django.contrib.gis.geos import Point
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from citygrid.scopes import scoped_object

from . import callbacks, callers, lifecycle, scoping
from .catalogue import subclass
from .duplicates import duplicates_near
from .models import Case
from .views import conflict

_LIST = inline_serializer("HotlineCaseList", {"results": serializers.ListField(child=serializers.DictField())})


def _float(params, name: str, low: float, high: float, errors: dict) -> float | None:
    try:
        value = float(params.get(name, ""))
    except ValueError:
        value = None
    if value is None or not low <= value <= high:  # also NaN and infinities
        errors[name] = [_("A number between %(low)s and %(high)s is required.") % {"low": low, "high": high}]
        return None
    return value


def _local(moment) -> str | None:
    """A time as the desk reads it: in the city's time zone (not UTC), ISO 8601 with its offset."""
    return timezone.localtime(moment).isoformat() if moment else None


def _places(case: Case) -> str:
    return " ".join(a.name for a in (case.district, case.street, case.community) if a is not None)


class Duplicates(APIView):
    """Likely duplicates of a report not yet saved — open cases of the same subclass near the point, recent
    (DUPLICATE_RADIUS_M, DUPLICATE_WINDOW_HOURS) — among the cases the user may see, oldest first."""

    @extend_schema(parameters=[OpenApiParameter("lon", OpenApiTypes.DOUBLE, required=True),
                               OpenApiParameter("lat", OpenApiTypes.DOUBLE, required=True),
                               OpenApiParameter("category", OpenApiTypes.STR, required=True)], responses=_LIST)
    def get(self, request):
        params, errors = request.query_params, {}
        lon, lat = _float(params, "lon", -180, 180, errors), _float(params, "lat", -90, 90, errors)
        category = subclass(params.get("category", "")[:10]) if params.get("category") else None
        if category is None:
            errors["category"] = [_("Choose a category.")]
        if errors:
            raise ValidationError(errors)
        ids = duplicates_near(lon, lat, category.pk)
        point = Point(lon, lat, srid=4326)
        found = (scoping.visible_cases(request.user).filter(pk__in=ids)
                 .select_related("category", "district", "street", "community")
                 .annotate(distance=Distance("location", point)).order_by("created_at", "id"))
        return Response({"results": [{
            "number": c.number, "status": c.status, "status_label": c.get_status_display(),
            "category": c.category.code, "category_name": c.category.name_zh, "address": c.address,
            "place": _places(c), "description": c.description[:200], "created_at": _local(c.created_at),
            "distance_m": round(c.distance.m), "lon": c.location.x, "lat": c.location.y,
            "can_merge_into": c.is_open} for c in found]})


class CallerCases(APIView):
    """The caller's earlier cases, by the digits of the number typed so far (at least six; the number itself
    first, then the newest)."""

    @extend_schema(parameters=[OpenApiParameter("phone", OpenApiTypes.STR, required=True)], responses=_LIST)
    def get(self, request):
        phone = request.query_params.get("phone", "")
        if len(phone) > 40:
            raise ValidationError({"phone": [_("At most %(n)d characters.") % {"n": 40}]})
        wanted = callers.digits(phone)
        return Response({"results": [{
            "number": c.number, "status": c.status, "status_label": c.get_status_display(),
            "category_name": c.category.name_zh, "created_at": _local(c.created_at), "contact_name": c.contact_name,
            "contact_phone": c.contact_phone, "same_number": callers.digits(c.contact_phone) == wanted}
            for c in callers.earlier_cases(request.user, phone)]})


class DueCallbacks(APIView):
    """Cases waiting for a callback (回访) at the desk, the longest waiting first (at most 200)."""

    @extend_schema(responses=_LIST)
    def get(self, request):
        due = list(callbacks.due(request.user)[:200])
        return Response({"count": len(due), "results": [{
            "number": c.number, "category_name": c.category.name_zh, "place": _places(c),
            "contact_name": c.contact_name, "contact_phone": c.contact_phone, "description": c.description[:200],
            "work_closed_at": _local(c.work_closed_at), "attempts": c.attempts or 0,
            "merged_into": c.merged_into.number if c.merged_into_id else None} for c in due]})


class RecordCallback(APIView):
    """Record a callback: `reached` (true/false), `satisfaction` (satisfied, basically, not_satisfied) when
    reached, `note`, and `reopen` (true, with not_satisfied) to send the work back as rework. 409 when the case
    is not waiting for a callback (its work not closed, or the caller already reached)."""

    @extend_schema(request=inline_serializer("CallbackInput", {
        "reached": serializers.BooleanField(), "satisfaction": serializers.CharField(required=False),
        "note": serializers.CharField(required=False), "reopen": serializers.BooleanField(required=False)}),
        responses={201: OpenApiTypes.OBJECT, 409: OpenApiResponse(description="not waiting for a callback")})
    def post(self, request, number: str):
        case = scoped_object(request)
        data = request.data if hasattr(request.data, "get") else {}
        errors: dict[str, list[str]] = {}
        flags = {}
        for name in ("reached", "reopen"):
            raw = data.get(name)
            if isinstance(raw, bool) or raw is None:
                flags[name] = raw
            elif str(raw).lower() in ("true", "1", "yes", "false", "0", "no"):
                flags[name] = str(raw).lower() in ("true", "1", "yes")
            else:
                errors[name] = [_("true or false.")]
        texts = {}
        for name in ("satisfaction", "note"):
            raw = data.get(name) or ""
            if not isinstance(raw, str):
                errors[name] = [_("Text is required.")]
                raw = ""
            texts[name] = raw
        if errors:
            raise ValidationError(errors)
        try:
            done = callbacks.record_callback(case, request.user, reached=flags["reached"],
                                             satisfaction=texts["satisfaction"], note=texts["note"],
                                             reopen=bool(flags["reopen"]))
        except callbacks.CallbackError as exc:
            raise ValidationError(exc.errors) from exc
        except lifecycle.TransitionError as exc:
            return conflict(exc, request.user)
        work = done.work_case
        return Response({"case": case.number, "reached": done.callback.reached,
                         "satisfaction": done.callback.satisfaction, "reopened": done.callback.reopened,
                         "work_case": {"number": work.number, "status": work.status,
                                       "status_label": work.get_status_display(),
                                       "bureau": work.bureau.name if work.bureau_id else None}},
                        status=status.HTTP_201_CREATED)
