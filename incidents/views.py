import logging
import uuid
from datetime import datetime

from django.conf import settings
from django.contrib.gis.geos import Point, Polygon
from django.db.models import Q
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from citygrid import roles
from citygrid.audit import record
from citygrid.exports import csv_lines
from citygrid.parsers import JSONParser
from citygrid.roles import has_role
from citygrid.scopes import scoped_object
from grids.models import Bureau
from grids.views import FeaturePagination

from . import intake, lifecycle, scoping
from .models import FINAL_STATUSES, Category, Source, Status, Urgency
from .photos import PhotoError, prepare_photo
from .serializers import CaseDetailSerializer, CaseFeatureSerializer, CategorySerializer

OPERATOR_SOURCES = {Source.HOTLINE_12319, Source.HOTLINE_12345, Source.WEB}

logger = logging.getLogger(__name__)


def _float(data, name: str, errors: dict) -> float | None:
    raw = data.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        errors[name] = [_("A number is required.")]
        return None
    if value != value or value in (float("inf"), float("-inf")):
        errors[name] = [_("A number is required.")]
        return None
    return value


def _text(data, name: str, errors: dict) -> str:
    raw = data.get(name, "")
    if raw is None:
        return ""
    if not isinstance(raw, str):
        errors[name] = [_("Text is required.")]
        return ""
    return raw


def _datetime(data, name: str, errors: dict) -> datetime | None:
    """An ISO date-time (local time when it has no offset); an impossible one is a field error, not a 500."""
    raw = data.get(name)
    if raw in (None, ""):
        return None
    try:
        value = parse_datetime(str(raw))
    except ValueError:
        value = None
    if value is None or not (2000 <= value.year <= 2100):
        errors[name] = [_("A date and time such as 2026-11-26T17:30:00 is required.")]
        return None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def _photos(request) -> list:
    return request.FILES.getlist("photos") if hasattr(request, "FILES") else []


class CaseQuerySerializer(serializers.Serializer):
    bbox = serializers.CharField(required=False)
    status = serializers.MultipleChoiceField(choices=Status.choices, required=False)
    category = serializers.CharField(required=False, help_text="subclass or major class code")
    area = serializers.CharField(required=False, help_text="district, street or community code")
    cell = serializers.CharField(required=False)
    bureau = serializers.CharField(required=False)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False)
    source = serializers.ChoiceField(choices=Source.choices, required=False)
    since = serializers.DateField(required=False)
    until = serializers.DateField(required=False)
    overdue = serializers.BooleanField(required=False, allow_null=True, default=None)

    def validate_bbox(self, value):
        from grids.serializers import GridQuerySerializer

        return GridQuerySerializer().validate_bbox(value)

    def to_internal_value(self, data):
        # A QueryDict: ?status=a&status=b, or ?status=a,b
        if hasattr(data, "getlist"):
            data = {k: (sum((v.split(",") for v in data.getlist(k)), []) if k == "status" else data.get(k))
                    for k in data}
        return super().to_internal_value(data)


def filtered_cases(request):
    params = CaseQuerySerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    q = params.validated_data
    qs = scoping.visible_cases(request.user).select_related(
        "category", "cell", "community", "street", "district", "bureau", "component")
    if "bbox" in q:
        qs = qs.filter(location__intersects=Polygon.from_bbox(q["bbox"]))
    if q.get("status"):
        qs = qs.filter(status__in=q["status"])
    if "category" in q:
        qs = qs.filter(Q(category__code=q["category"]) | Q(category__parent__code=q["category"]))
    if "area" in q:
        code = q["area"]
        qs = qs.filter(Q(district__code=code) | Q(street__code=code) | Q(community__code=code))
    if "cell" in q:
        qs = qs.filter(cell__code=q["cell"])
    if "bureau" in q:
        qs = qs.filter(bureau__code=q["bureau"])
    for key in ("urgency", "source"):
        if key in q:
            qs = qs.filter(**{key: q[key]})
    if "since" in q:
        qs = qs.filter(created_at__date__gte=q["since"])
    if "until" in q:
        qs = qs.filter(created_at__date__lte=q["until"])
    if q.get("overdue") is not None:
        overdue = Q(deadline__lt=timezone.now()) & ~Q(status__in=FINAL_STATUSES)
        qs = qs.filter(overdue) if q["overdue"] else qs.exclude(overdue)
    return qs.order_by("-created_at")


class CaseList(generics.ListCreateAPIView):
    """Cases the user may see, as GeoJSON (filters: bbox, status, category, area, cell, bureau, urgency,
    source, since, until, overdue); POST reports a new case (JSON or multipart with `photos`)."""

    serializer_class = CaseFeatureSerializer
    pagination_class = FeaturePagination
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        return filtered_cases(self.request)

    def create(self, request, *args, **kwargs):
        data, user = request.data, request.user  # who may report: citygrid.policy
        if not hasattr(data, "get"):
            raise ValidationError({"non_field_errors": [_("Send a JSON object or a form.")]})
        errors: dict[str, list[str]] = {}
        source = data.get("source") or (Source.INSPECTOR if has_role(user, roles.INSPECTOR) else Source.HOTLINE_12345)
        if has_role(user, roles.INSPECTOR) and not has_role(user, roles.OPERATOR, roles.DISPATCHER):
            source = Source.INSPECTOR
        elif source not in OPERATOR_SOURCES | {Source.INSPECTOR}:
            errors["source"] = [_("Choose one of: %(values)s.") % {"values": ", ".join(sorted(OPERATOR_SOURCES))}]
        client_uuid = None
        if data.get("client_uuid"):
            try:
                client_uuid = uuid.UUID(str(data.get("client_uuid")))
            except ValueError:
                errors["client_uuid"] = [_("Not a UUID.")]
        report = intake.Report(
            lon=_float(data, "lon", errors), lat=_float(data, "lat", errors),
            category=_text(data, "category", errors) or None, source=source, client_uuid=client_uuid,
            description=_text(data, "description", errors), urgency=data.get("urgency") or Urgency.NORMAL,
            address=_text(data, "address", errors), accuracy_m=_float(data, "accuracy_m", errors),
            contact_name=_text(data, "contact_name", errors), contact_phone=_text(data, "contact_phone", errors),
            contact_email=_text(data, "contact_email", errors), photos=_photos(request),
            component=_text(data, "component", errors), census=_text(data, "census", errors))
        if errors:
            raise ValidationError(errors)
        try:
            result = intake.submit(report, reporter=user)
        except intake.IntakeError as exc:
            raise ValidationError(exc.errors) from exc
        return Response(result.summary(), status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class MyCases(generics.ListAPIView):
    """Cases I reported."""

    serializer_class = CaseFeatureSerializer
    pagination_class = FeaturePagination

    def get_queryset(self):
        return filtered_cases(self.request).filter(reporter=self.request.user)


class VerificationTasks(generics.ListAPIView):
    """Processed cases in my cells waiting for my on-site check (核查)."""

    serializer_class = CaseFeatureSerializer
    pagination_class = FeaturePagination

    def get_queryset(self):
        return filtered_cases(self.request).filter(status=Status.PROCESSED, cell__inspectors=self.request.user)


class CaseDetail(generics.RetrieveAPIView):
    serializer_class = CaseDetailSerializer

    def get_object(self):
        return scoped_object(self.request)


def conflict(exc: lifecycle.TransitionError, user) -> Response:
    """409: the case changed meanwhile or is in another state — its current status and version, and what this
    user may do with it now (the same shape wherever a case action meets its state)."""
    return Response({"detail": str(exc), "status": exc.case.status, "version": exc.case.version,
                     "allowed_actions": lifecycle.allowed_actions(exc.case, user)}, status=status.HTTP_409_CONFLICT)


class CaseAction(APIView):
    """Move a case through the closed loop: POST /api/cases/{number}/{action}/ with `version` (the one
    the client saw), and `note`, `reason`, `bureau`, `until`, `passed`, `into`, `lon`/`lat`, `photos` as
    the action needs. 409 with the current state if the case changed or the action does not fit it."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        request=inline_serializer("CaseActionInput", {
            "version": serializers.IntegerField(required=False), "note": serializers.CharField(required=False),
            "reason": serializers.CharField(required=False), "bureau": serializers.CharField(required=False),
            "until": serializers.DateTimeField(required=False), "passed": serializers.BooleanField(required=False),
            "into": serializers.CharField(required=False), "lon": serializers.FloatField(required=False),
            "lat": serializers.FloatField(required=False),
            "photos": serializers.ListField(child=serializers.ImageField(), required=False)}),
        operation_id="cases_action",
        responses={200: CaseDetailSerializer, 403: OpenApiResponse(description="role or scope refused"),
                   409: OpenApiResponse(description="the case changed or is in another state")},
    )
    def post(self, request, number: str, action: str):
        if action not in lifecycle.RULES and action != "verify":
            raise Http404
        case, user = scoped_object(request), request.user
        # Role and scope first, then the input, photos last: a refused caller never gets an image decoded.
        lifecycle.ensure_permitted("verify_pass" if action == "verify" else action, case, user)
        data = request.data if hasattr(request.data, "get") else {}
        errors: dict[str, list[str]] = {}
        version = data.get("version")
        try:
            version = int(version) if version not in (None, "") else None
        except (TypeError, ValueError):
            errors["version"] = [_("A whole number is required.")]
        note, reason = _text(data, "note", errors), _text(data, "reason", errors)
        until = _datetime(data, "until", errors) if action == "request_postponement" else None
        uploads = _photos(request)
        if len(uploads) > settings.PHOTO_MAX_COUNT:
            errors["photos"] = [_("At most %(n)d photos.") % {"n": settings.PHOTO_MAX_COUNT}]
        if errors:
            raise ValidationError(errors)
        photos = []
        for upload in uploads:
            try:
                photos.append(prepare_photo(upload, keep_metadata=True))
            except PhotoError as exc:
                errors.setdefault("photos", []).append(str(exc))
        if errors:
            raise ValidationError(errors)
        user, kw = request.user, {"version": version}
        try:
            if action == "register":
                case = lifecycle.register(case, user, note=note, **kw)
            elif action == "reject":
                case = lifecycle.reject(case, user, reason=reason, **kw)
            elif action == "dispatch":
                bureau = Bureau.objects.filter(code=data.get("bureau") or "", active=True).first()
                case = lifecycle.dispatch(case, user, bureau=bureau, note=note, **kw)
            elif action == "accept":
                case = lifecycle.accept(case, user, note=note, **kw)
            elif action == "return":
                case = lifecycle.return_case(case, user, reason=reason, **kw)
            elif action == "request_postponement":
                case = lifecycle.request_postponement(case, user, until=until, reason=reason, **kw)
            elif action == "approve_postponement":
                case = lifecycle.approve_postponement(case, user, note=note, **kw)
            elif action == "deny_postponement":
                case = lifecycle.deny_postponement(case, user, reason=reason, **kw)
            elif action == "process":
                case = lifecycle.process(case, user, note=note, photos=photos, **kw)
            elif action in ("verify", "verify_pass", "verify_fail"):
                passed = action == "verify_pass" or (action == "verify" and str(data.get("passed")).lower()
                                                     in ("true", "1", "yes"))
                lon, lat = _float(data, "lon", errors), _float(data, "lat", errors)
                where = Point(lon, lat, srid=4326) if lon is not None and lat is not None else None
                case = lifecycle.verify(case, user, passed=passed, note=note, photos=photos, location=where, **kw)
            elif action == "close":
                case = lifecycle.close(case, user, note=note, **kw)
            elif action == "cancel":
                case = lifecycle.cancel(case, user, reason=reason, **kw)
            elif action == "reopen":
                case = lifecycle.reopen(case, user, reason=reason, **kw)
            elif action == "merge":
                into = scoping.visible_cases(user).filter(number=data.get("into") or "").first()
                if into is None:
                    raise lifecycle.InvalidAction({"into": [_("No such case.")]})
                case = lifecycle.merge(case, user, into=into, note=note, **kw)
        except lifecycle.InvalidAction as exc:
            raise ValidationError(exc.errors) from exc
        except lifecycle.TransitionError as exc:
            record(f"case_{action}", request=request, target=f"case: {number}", result="refused",
                   detail=str(exc))
            return conflict(exc, user)
        return Response(CaseDetailSerializer(case, context={"request": request}).data)


def _csv_rows(qs):
    yield ["number", "reported_at", "status", "category", "category_name", "urgency", "source", "district",
           "street", "community", "cell", "bureau", "deadline", "overdue", "lon", "lat", "address", "description"]
    for c in qs.iterator(chunk_size=2000):
        yield [c.number, c.created_at.isoformat(), c.status, c.category.code, c.category.name_zh, c.urgency,
               c.source, c.district.code, c.street.code if c.street else "", c.community.code if c.community else "",
               c.cell.code if c.cell else "", c.bureau.code if c.bureau else "",
               c.deadline.isoformat() if c.deadline else "", c.is_overdue, c.location.x, c.location.y, c.address,
               c.description]


class CaseExport(APIView):
    """The filtered cases as CSV (`?as=csv`, the default) or one GeoJSON FeatureCollection (`?as=geojson`)."""

    @extend_schema(parameters=[CaseQuerySerializer, OpenApiParameter("as", OpenApiTypes.STR, enum=["csv", "geojson"])],
                   responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/geo+json"): OpenApiTypes.OBJECT})
    def get(self, request):
        qs = filtered_cases(request)
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        fmt = "geojson" if request.query_params.get("as") == "geojson" else "csv"
        record("export", request=request, target="cases", detail=f"{fmt} {request.query_params.urlencode()}"[:500])
        if request.query_params.get("as") == "geojson":
            data = CaseFeatureSerializer(qs, many=True).data
            response = Response(data, content_type="application/geo+json")
            response["Content-Disposition"] = f'attachment; filename="cases-{stamp}.geojson"'
            return response
        response = StreamingHttpResponse(csv_lines(_csv_rows(qs)), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="cases-{stamp}.csv"'
        return response


class CategoryList(generics.ListAPIView):
    """The catalogue's subclasses (what a case can be filed under), with their time limits."""

    serializer_class = CategorySerializer
    pagination_class = None
    queryset = (Category.objects.filter(parent__isnull=False, active=True)
                .select_related("parent").prefetch_related("time_limits").order_by("code"))


class PhotoFile(APIView):
    """A case photo, served only to users who may see its case (never from a public media directory)."""

    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY, 404: None})
    def get(self, request, pk: int, variant: str):
        photo = scoped_object(request)
        field = photo.thumbnail if variant == "thumbnail" else photo.image
        try:
            handle = field.open("rb")
        except FileNotFoundError:
            # The row without its file (a media store not mounted, a database restored without its photos): the
            # reader is told it is missing, the operators are told where.
            logger.error("photo %s: its file %s is missing from the media store", photo.pk, field.name)
            raise Http404(_("This photo's file is missing from the media store.")) from None
        response = FileResponse(handle, content_type="image/jpeg")
        response["Cache-Control"] = "private, no-store"  # photos show people and number plates
        return response
