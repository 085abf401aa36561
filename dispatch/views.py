import json
import time

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from citygrid.scopes import scoped_object
from incidents.lifecycle import InvalidAction
from incidents.models import Urgency
from incidents.scoping import user_district_id

from . import dashboard, emergency, evaluation, streams, units, workbench
from .feed import events_after
from .models import ResponseUnit
from .scoping import commanded_bureau_ids, commanded_units


def _unit(unit: ResponseUnit, metres: float | None = None) -> dict:
    data = {"code": unit.code, "name": unit.name, "bureau": unit.bureau.code, "state": unit.state,
            "lon": unit.position.x if unit.position else None, "lat": unit.position.y if unit.position else None,
            "position_at": unit.position_at.isoformat() if unit.position_at else None}
    if metres is not None:
        data["distance_m"] = round(metres)
    return data


class NearestUnits(APIView):
    """The nearest available response units with a fresh position, for a case."""

    @extend_schema(parameters=[OpenApiParameter("limit", OpenApiTypes.INT)], responses=OpenApiTypes.OBJECT)
    def get(self, request, number: str):
        case = scoped_object(request)
        try:
            limit = int(request.query_params.get("limit", 5))
        except ValueError as exc:
            raise ValidationError({"limit": [_("A whole number is required.")]}) from exc
        if not 1 <= limit <= 50:
            raise ValidationError({"limit": [_("Between %(low)d and %(high)d.") % {"low": 1, "high": 50}]})
        nearest = emergency.nearest_units(case.location, limit=limit, bureau_ids=commanded_bureau_ids(request.user))
        return Response({"case": case.number, "emergency": emergency.is_emergency(case),
                         "units": [_unit(u, m) for u, m in nearest]})


class SendUnits(APIView):
    @extend_schema(request=inline_serializer("SendUnits", {"units": serializers.ListField(
        child=serializers.CharField())}), responses={201: OpenApiTypes.OBJECT})
    def post(self, request, number: str):
        case = scoped_object(request)
        codes = request.data.get("units") if hasattr(request.data, "get") else None
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ValidationError({"units": [_("Give a list of unit codes.")]})
        units = list(commanded_units(request.user).filter(code__in=codes))
        unknown = sorted(set(codes) - {u.code for u in units})
        if unknown:  # another district's units are not this centre's to send
            raise ValidationError({"units": [_("Not units you command: %(units)s.") % {"units": ", ".join(unknown)}]})
        try:
            assignments = emergency.send_units(case, units, request.user)
        except InvalidAction as exc:
            raise ValidationError(exc.errors) from exc
        return Response({"assignments": [{"id": a.pk, "unit": a.unit.code} for a in assignments]}, status=201)


class AssignmentStep(APIView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk: int, step: str):
        if step not in ("acknowledge", "arrive", "clear"):
            raise ValidationError({"step": [_("Unknown step.")]})
        assignment = scoped_object(request)
        try:
            done = emergency.record_step(assignment, step, request.user)
        except InvalidAction as exc:
            raise ValidationError(exc.errors) from exc
        return Response({"id": done.pk, "acknowledged_at": done.acknowledged_at, "arrived_at": done.arrived_at,
                         "cleared_at": done.cleared_at})


class UnitPosition(APIView):
    """A unit's device (or its bureau's staff) reports where it is."""

    @extend_schema(request=inline_serializer("UnitPosition", {"lon": serializers.FloatField(),
                                                               "lat": serializers.FloatField()}),
                   responses={204: None})
    def post(self, request, code: str):
        unit = scoped_object(request)
        try:
            lon, lat = float(request.data.get("lon")), float(request.data.get("lat"))
        except (TypeError, ValueError) as exc:
            raise ValidationError({"position": [_("Give lon and lat as numbers.")]}) from exc
        try:
            emergency.report_position(unit, lon, lat)
        except InvalidAction as exc:
            raise ValidationError(exc.errors) from exc
        return Response(status=204)


class UnitInput(serializers.Serializer):
    code = serializers.RegexField(r"^[A-Za-z0-9_-]+$", max_length=32)
    name = serializers.CharField(max_length=100)
    bureau = serializers.CharField(max_length=32, required=False, allow_blank=True, default="",
                                   help_text="default: the user's own bureau")
    kind = serializers.ChoiceField(choices=ResponseUnit.Kind.choices, default=ResponseUnit.Kind.PATROL)
    district = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    crew_size = serializers.IntegerField(min_value=1, max_value=200, default=2)
    on_duty = serializers.BooleanField(default=True)


class UnitList(APIView):
    """The response units the user commands (a district centre its district's, a bureau its own, a crew's phone its
    own); POST adds one to a bureau the user may add units to."""

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="dispatch_units_list")
    def get(self, request):
        found = commanded_units(request.user).select_related("bureau", "district")
        return Response({"results": [units.summary(u) for u in found]})

    @extend_schema(request=UnitInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        data = UnitInput(data=request.data if hasattr(request.data, "get") else {})
        data.is_valid(raise_exception=True)
        try:
            unit = units.create_unit(request.user, **data.validated_data)
        except InvalidAction as exc:
            raise ValidationError(exc.errors) from exc
        return Response(units.summary(unit), status=201)


class UnitDetail(APIView):
    """A unit with its open assignment and the case it was sent to (what a crew's phone shows)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, code: str):
        return Response(units.summary(scoped_object(request), with_assignment=True))


class UnitDuty(APIView):
    """上岗 / 下岗: `{"on_duty": true|false}`; a unit on a task stays on it until cleared."""

    @extend_schema(request=inline_serializer("UnitDuty", {"on_duty": serializers.BooleanField()}),
                   responses=OpenApiTypes.OBJECT)
    def post(self, request, code: str):
        field = serializers.BooleanField()
        try:
            on_duty = field.to_internal_value(request.data.get("on_duty") if hasattr(request.data, "get") else None)
        except serializers.ValidationError as exc:
            raise ValidationError({"on_duty": exc.detail}) from exc
        try:
            unit = units.set_duty(scoped_object(request), on_duty, request.user)
        except InvalidAction as exc:
            raise ValidationError(exc.errors) from exc
        return Response(units.summary(unit, with_assignment=True))


class BureauQuery(serializers.Serializer):
    status = serializers.MultipleChoiceField(choices=[(s, s) for s in workbench.QUEUE_STATUSES], required=False)
    major = serializers.CharField(max_length=10, required=False, allow_blank=True)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False, allow_blank=True)
    escalated = serializers.BooleanField(required=False, default=False)

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):  # ?status=a&status=b or ?status=a,b
            data = {k: (sum((v.split(",") for v in data.getlist(k)), []) if k == "status" else data.get(k))
                    for k in data}
        return super().to_internal_value(data)


class BureauQueue(APIView):
    """The workbench queue: open cases dispatched to the user's bureau, deadline first, with the SLA light, the
    office hours left and the latest escalation (督办); `?status=&major=&urgency=&escalated=true`."""

    @extend_schema(parameters=[BureauQuery], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        query = BureauQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        f = workbench.QueueFilter(statuses=tuple(q.get("status") or workbench.TO_DO), major=q.get("major", ""),
                                  urgency=q.get("urgency", ""), escalated_only=q.get("escalated", False))
        return Response(workbench.queue(request.user, f))


def _after(request) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query_params.get("after") or "0"
    try:
        return max(int(raw), 0)
    except ValueError as exc:
        raise ValidationError({"after": [_("A whole number is required.")]}) from exc


class Events(APIView):
    """Polling form of the feed: events after `?after=ID` (the fallback when the push connection drops)."""

    @extend_schema(parameters=[OpenApiParameter("after", OpenApiTypes.INT),
                               OpenApiParameter("limit", OpenApiTypes.INT)], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        try:
            limit = min(max(int(request.query_params.get("limit", 200)), 1), 500)
        except ValueError as exc:
            raise ValidationError({"limit": [_("A whole number is required.")]}) from exc
        return Response({"events": events_after(request.user, _after(request), limit=limit)})


class EventStreamRenderer(BaseRenderer):
    """Lets content negotiation accept a browser's EventSource (Accept: text/event-stream); the view streams
    the events itself."""

    media_type = "text/event-stream"
    format = "sse"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=False).encode()


# What one Server-Sent Event of the stream holds (its `data` is a JSON event as /events/ gives it).
SSE_EVENT = {"type": "object", "required": ["data"], "properties": {
    "event": {"type": "string", "enum": ["case", "emergency"]}, "id": {"type": "string", "pattern": "^[0-9]+$"},
    "data": {"type": "string"}, "retry": {"type": "integer"}}}


class EventStream(APIView):
    """Server-Sent Events: new and changed cases as they happen. The stream ends after FEED_STREAM_SECONDS;
    the browser's EventSource reconnects with Last-Event-ID and misses nothing."""

    renderer_classes = [EventStreamRenderer, JSONRenderer]

    @extend_schema(responses={(200, "text/event-stream"): SSE_EVENT})
    def get(self, request):
        user, cursor = request.user, _after(request)
        refused = streams.acquire(user.pk)
        if refused:
            message = (_("You have too many live streams open; close a tab, or this page polls instead.")
                       if refused == "user" else _("The server has no room for another live stream now; polling."))
            return Response({"detail": message}, status=429 if refused == "user" else 503,
                            headers={"Retry-After": "30"})

        def stream():
            nonlocal cursor
            sent: set[int] = set()
            yield "retry: 2000\n\n"
            deadline = time.monotonic() + settings.FEED_STREAM_SECONDS
            while time.monotonic() < deadline:
                for event in events_after(user, cursor):
                    if event["id"] in sent:
                        continue
                    sent.add(event["id"])
                    cursor = max(cursor, event["id"])
                    kind = "emergency" if event["case"]["emergency"] and event["action"] == "report" else "case"
                    yield f"id: {event['id']}\nevent: {kind}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
                yield ": keep-alive\n\n"
                time.sleep(settings.FEED_POLL_SECONDS)

        response = StreamingHttpResponse(streams.Slot(user.pk, stream()), content_type="text/event-stream")
        response["Cache-Control"] = "no-store"
        response["X-Accel-Buffering"] = "no"
        return response


class Evaluation(APIView):
    """综合评价: figures and composite score of every bureau, district, street, cell or inspector over a
    period, best first (`?dimension=bureau&start=2026-11-01&end=2026-12-01`, end exclusive)."""

    @extend_schema(parameters=[
        OpenApiParameter("dimension", OpenApiTypes.STR, enum=list(evaluation.DIMENSIONS), required=True),
        OpenApiParameter("start", OpenApiTypes.DATE, required=True),
        OpenApiParameter("end", OpenApiTypes.DATE, required=True)], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        dimension, start, end = _period(request)
        figures = evaluation.evaluate(dimension, start, end, district_id=user_district_id(request.user))
        return Response({"dimension": dimension, "start": start, "end": end,
                         "weights": evaluation.weights(inspector=dimension == "inspector"),
                         "results": [f.as_dict() for f in figures]})


class EvaluationSeries(APIView):
    """One unit's figures per day (or week, month) of a period: `?dimension=district&code=430302&interval=day`."""

    @extend_schema(parameters=[
        OpenApiParameter("dimension", OpenApiTypes.STR, enum=list(evaluation.DIMENSIONS), required=True),
        OpenApiParameter("code", OpenApiTypes.STR, required=True),
        OpenApiParameter("start", OpenApiTypes.DATE, required=True),
        OpenApiParameter("end", OpenApiTypes.DATE, required=True),
        OpenApiParameter("interval", OpenApiTypes.STR, enum=["day", "week", "month"])],
        responses=OpenApiTypes.OBJECT)
    def get(self, request):
        dimension, start, end = _period(request)
        code = request.query_params.get("code", "")
        interval = request.query_params.get("interval", "day")
        if interval not in ("day", "week", "month"):
            raise ValidationError({"interval": [_("Choose day, week or month.")]})
        district = user_district_id(request.user)
        series, found = [], False
        for a, b in _steps(start, end, interval):
            row = next((f for f in evaluation.evaluate(dimension, a, b, district_id=district)
                        if f.code == code), None)
            found = found or row is not None
            series.append({"start": a, "end": b, **(row.as_dict() if row else {"code": code})})
        if not found:  # a unit outside the user's evaluation (another district's), or none by that code
            raise NotFound(_("No figures for %(code)s in this period and your scope.") % {"code": code})
        return Response({"dimension": dimension, "code": code, "interval": interval, "series": series})


class PeriodQuery(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField(help_text="exclusive")

    def validate(self, data):
        if not all(2000 <= data[k].year <= 2100 for k in ("start", "end")):
            raise serializers.ValidationError({"end": [_("Dates between 2000 and 2100.")]})
        if data["end"] <= data["start"]:
            raise serializers.ValidationError({"end": [_("The end must come after the start.")]})
        if (data["end"] - data["start"]).days > 400:
            raise serializers.ValidationError({"end": [_("At most 400 days at a time.")]})
        return data


class EvaluationQuery(PeriodQuery):
    dimension = serializers.ChoiceField(choices=list(evaluation.DIMENSIONS))


def _period(request):
    """The evaluation's dimension and period as aware datetimes at local midnight (400 at most, else a 400)."""
    from datetime import datetime, time

    from django.utils import timezone

    query = EvaluationQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    data, zone = query.validated_data, timezone.get_current_timezone()
    return (data["dimension"], datetime.combine(data["start"], time.min, tzinfo=zone),
            datetime.combine(data["end"], time.min, tzinfo=zone))


def _steps(start, end, interval):
    from datetime import timedelta

    current = start
    while current < end:
        if interval == "day":
            nxt = current + timedelta(days=1)
        elif interval == "week":
            nxt = current + timedelta(days=7)
        else:
            nxt = (current.replace(day=1) + timedelta(days=32)).replace(day=1)
        yield current, min(nxt, end)
        current = nxt


class DashboardQuery(PeriodQuery):
    major = serializers.CharField(required=False, allow_blank=True, max_length=10,
                                  help_text="a major class code, e.g. SJ01")
    bbox = serializers.CharField(required=False, help_text="minLon,minLat,maxLon,maxLat (WGS84)")
    zoom = serializers.IntegerField(required=False, min_value=0, max_value=22, default=12)

    def validate_bbox(self, value: str) -> tuple[float, float, float, float]:
        try:
            box = tuple(float(v) for v in value.split(","))
        except ValueError:
            box = ()
        if len(box) != 4 or not (-180 <= box[0] < box[2] <= 180 and -90 <= box[1] < box[3] <= 90):
            raise serializers.ValidationError(_("Four numbers: minLon,minLat,maxLon,maxLat."))
        return box

    @classmethod
    def parse(cls, request) -> tuple[dashboard.Filter, int]:
        query = cls(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        return dashboard.Filter(data["start"], data["end"], data.get("major", ""), data.get("bbox")), data["zoom"]


class DashboardHeat(APIView):
    """Heatmap density of the cases reported in a period, aggregated in PostGIS to buckets sized for the zoom."""

    @extend_schema(parameters=[DashboardQuery], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        f, zoom = DashboardQuery.parse(request)
        return Response(dashboard.heat(request.user, f, zoom))


class DashboardChoropleth(APIView):
    """Cases per cell (zoom ≥ 14, within bbox) or per community, as GeoJSON with a count on each feature."""

    @extend_schema(parameters=[DashboardQuery], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        f, zoom = DashboardQuery.parse(request)
        # GeoJSON written by PostgreSQL, sent as it is (dashboard.choropleth says why).
        return HttpResponse(dashboard.choropleth(request.user, f, zoom), content_type="application/json")


class DashboardArea(APIView):
    """One cell's or community's figures in the period (clicked on the choropleth)."""

    @extend_schema(parameters=[DashboardQuery], responses=OpenApiTypes.OBJECT)
    def get(self, request, code: str):
        f, _zoom = DashboardQuery.parse(request)
        return Response(dashboard.cell_figures(request.user, f, scoped_object(request).code))


class DashboardKpis(APIView):
    """Intake and closures per day, on-time rate, open overdue cases by bureau."""

    @extend_schema(parameters=[DashboardQuery], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        f, _zoom = DashboardQuery.parse(request)
        return Response(dashboard.kpis(request.user, f))


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class BulletinQuery(PeriodQuery):
    district = serializers.CharField(required=False, allow_blank=True, max_length=12,
                                     help_text="a district's code; none: the city (or the user's own district)")
    # `as` (a Python keyword, hence vars()): `format` is DRF's own renderer override.
    vars()["as"] = serializers.ChoiceField(choices=["json", "csv", "xlsx", "pdf"], required=False, default="json")


def bulletin_scope(user, code: str) -> int | None:
    """The district a bulletin is for: the user's own if he has one (another district's code is not found, as if it
    did not exist — 404), else the one asked for (None: the city). An unknown code is a 400."""
    from django.http import Http404

    from grids.models import Area, Level

    own = user_district_id(user)
    if not code:
        return own
    district = Area.objects.current().filter(code=code, level=Level.DISTRICT).first()
    if district is None:
        raise ValidationError({"district": [_("No district has this code.")]})
    if own and district.pk != own:
        from citygrid.audit import record

        record("out_of_scope", target=f"bulletin district {code}", result="denied")
        raise Http404
    return district.pk


def bulletin_response(data: dict, fmt: str, name: str):
    """The bulletin's figures as JSON, or as a file: CSV (formula-safe), XLSX, PDF."""
    from django.http import HttpResponse

    from citygrid.exports import csv_lines

    from . import bulletin

    if fmt == "json":
        return Response(data)
    if fmt == "csv":
        body, content_type = "".join(csv_lines(bulletin.csv_rows(data))).encode(), "text/csv; charset=utf-8"
    elif fmt == "xlsx":
        body, content_type = bulletin.to_xlsx(data), XLSX
    else:
        body, content_type = bulletin.render_pdf(data), "application/pdf"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


class BulletinLive(APIView):
    """The bulletin (通报) of any period and scope, computed now: `?start=2026-10-01&end=2026-11-01&district=430302
    &as=json|csv|xlsx|pdf`. A district's centre gets its own district's."""

    @extend_schema(parameters=[BulletinQuery], responses={
        200: OpenApiTypes.OBJECT, (200, "application/pdf"): OpenApiTypes.BINARY,
        (200, "text/csv"): OpenApiTypes.STR, (200, XLSX): OpenApiTypes.BINARY, 400: OpenApiTypes.OBJECT, 404: None})
    def get(self, request):
        from citygrid.audit import record

        from . import bulletin

        query = BulletinQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        district_id = bulletin_scope(request.user, params.get("district", ""))
        data = bulletin.figures(params["start"], params["end"], district_id)
        fmt = params.get("as", "json")
        if fmt != "json":
            record("export", request=request, target="bulletin",
                   detail=f"{fmt} {request.query_params.urlencode()}"[:500])
        return bulletin_response(data, fmt, f"bulletin-{params['start']:%Y%m%d}-{data['scope']['code'] or 'city'}")


class BulletinList(APIView):
    """The bulletins issued (by the scheduler, monthly), newest first: a district's centre sees its district's."""

    @extend_schema(operation_id="dispatch_bulletins_list", responses=OpenApiTypes.OBJECT)
    def get(self, request):
        from .scoping import visible_bulletins

        rows = visible_bulletins(request.user).select_related("district")[:60]
        return Response({"results": [{
            "id": b.pk, "start": b.start, "end": b.end, "scope": b.district.name if b.district_id else _("the city"),
            "district": b.district.code if b.district_id else "", "generated_at": b.generated_at,
            "files": {fmt: f"/api/dispatch/bulletins/{b.pk}/{fmt}/" for fmt in ("pdf", "xlsx", "csv")}}
            for b in rows]})


class BulletinFile(APIView):
    """An issued bulletin as it was issued: its PDF, or its tables (from the figures it printed) as XLSX or CSV."""

    @extend_schema(parameters=[OpenApiParameter("fmt", OpenApiTypes.STR, OpenApiParameter.PATH,
                                                enum=["pdf", "xlsx", "csv"])],
                   responses={(200, "application/pdf"): OpenApiTypes.BINARY, (200, "text/csv"): OpenApiTypes.STR,
                              (200, XLSX): OpenApiTypes.BINARY, 404: None})
    def get(self, request, pk: int, fmt: str):
        from django.http import FileResponse, Http404

        from citygrid.audit import record

        bulletin = scoped_object(request)
        if fmt not in ("pdf", "xlsx", "csv"):
            raise Http404
        record("export", request=request, target=f"bulletin {bulletin.pk}", detail=fmt)
        name = f"bulletin-{bulletin.start:%Y%m}-{bulletin.district.code if bulletin.district_id else 'city'}"
        if fmt != "pdf":
            return bulletin_response(bulletin.figures, fmt, name)
        response = FileResponse(bulletin.pdf.open("rb"), content_type="application/pdf", as_attachment=True,
                                filename=f"{name}.pdf")
        response["Cache-Control"] = "private, no-store"
        return response
