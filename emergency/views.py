"""The emergency command API (/api/emergency/): thin views over emergency.command; every URL naming an incident or
a task resolves it in the caller's scope first (citygrid.policy), so these views never look one up by id."""

import json

from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.rules import Draft
from alerts.views import IssueInput
from citygrid.scopes import scoped_object
from dispatch.scoping import commanded_units
from incidents.lifecycle import InvalidAction
from incidents.scoping import visible_cases

from . import board, command, reports
from .models import EventType, Headquarters, Incident, Level, Plan, ResourceKind, Status
from .scoping import visible_incidents, visible_resources, visible_tasks


def _conflict(exc: command.Conflict, incident: Incident | None = None) -> Response:
    body = {"detail": str(exc)}
    if incident is not None:
        incident.refresh_from_db()
        body.update({"status": incident.status, "version": incident.version})
    return Response(body, status=status.HTTP_409_CONFLICT)


def _call(fn, *args, incident: Incident | None = None, **kwargs):
    """Run a rule; bad input → 400 with field messages, a state that does not allow it → 409."""
    try:
        return fn(*args, **kwargs), None
    except InvalidAction as exc:
        raise ValidationError(exc.errors) from exc
    except command.Conflict as exc:
        return None, _conflict(exc, incident)


class OpenInput(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    event_type = serializers.SlugRelatedField(slug_field="code", queryset=EventType.objects.all())
    level = serializers.ChoiceField(choices=Level.choices)
    area = serializers.JSONField(required=False, help_text="GeoJSON Polygon or MultiPolygon (WGS84)")
    case = serializers.CharField(max_length=20, required=False, help_text="an emergency case's number")
    sensor = serializers.CharField(max_length=40, required=False, help_text="a sensor in alarm: its open episode")
    headquarters = serializers.SlugRelatedField(slug_field="code", queryset=Headquarters.objects.all(),
                                                required=False)
    drill = serializers.BooleanField(default=False)
    description = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


def incident_row(i: Incident) -> dict:
    return {"number": i.number, "title": i.title, "level": i.level, "level_label": i.get_level_display(),
            "status": i.status, "status_label": i.get_status_display(), "drill": i.drill,
            "event_type_name": i.event_type.name, "created_at": i.created_at,
            "headquarters": i.headquarters.name if i.headquarters_id else None,
            # drawn on the list's map: simplified to about 50 m (a district-wide area has thousands of vertices)
            "area": json.loads(i.area.simplify(0.0005, preserve_topology=True).geojson)}


class IncidentList(APIView):
    """GET: the incidents the user sees (?status=open|ended|all, ?drill=0|1); POST: open one (dispatchers)."""

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="emergency_incidents_list")
    def get(self, request):
        qs = visible_incidents(request.user).select_related("event_type", "headquarters")
        which = request.query_params.get("status", "all")
        if which == "open":
            qs = qs.exclude(status=Status.ENDED)
        elif which == "ended":
            qs = qs.filter(status=Status.ENDED)
        elif which != "all":
            raise ValidationError({"status": [_("open, ended or all.")]})
        if request.query_params.get("drill") in ("0", "1"):
            qs = qs.filter(drill=request.query_params["drill"] == "1")
        return Response({"results": [incident_row(i) for i in qs.order_by("-created_at")[:200]]})

    @extend_schema(request=OpenInput, responses={201: OpenApiTypes.OBJECT}, operation_id="emergency_incidents_open")
    def post(self, request):
        data = OpenInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        case = episode = None
        if v.get("case"):
            case = visible_cases(request.user).filter(number=v["case"]).first()
            if case is None:
                raise ValidationError({"case": [_("No such case.")]})
        if v.get("sensor"):
            from monitoring.models import AlarmEpisode
            from monitoring.scoping import visible_sensors

            episode = AlarmEpisode.objects.filter(sensor__in=visible_sensors(request.user).values("pk"),
                                                  sensor__code=v["sensor"], ended_at__isnull=True).first()
            if episode is None:
                raise ValidationError({"sensor": [_("No sensor of yours is in alarm by that code.")]})
        incident, _resp = _call(command.open_incident, request.user, title=v["title"], event_type=v["event_type"],
                                level=v["level"], area=v.get("area"), headquarters=v.get("headquarters"), case=case,
                                episode=episode, drill=v["drill"], description=v["description"])
        return Response(board.incident_summary(incident), status=201)


class IncidentDetail(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="emergency_incident_detail")
    def get(self, request, number: str):
        incident = scoped_object(request)
        return Response({**board.incident_summary(incident), "area": json.loads(incident.area.geojson),
                         "tasks": board.tasks(incident), "timeline": board.timeline(incident),
                         # the incident's cases the user may see (a headquarters' member from another district
                         # sees the incident, not every case of it: as on the board)
                         "cases": list(visible_cases(request.user).filter(
                             pk__in=incident.case_links.values("case_id")).order_by("number")
                             .values_list("number", flat=True))})


class IncidentBoard(APIView):
    """Everything the incident board draws, in one answer (bench/emergency.py measures it)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, number: str):
        # JSON made here: the cases' rows come from PostgreSQL as JSON text and are passed through unparsed.
        return HttpResponse(board.to_json(board.board(request.user, scoped_object(request))),
                            content_type="application/json")


ACTIONS = ("level", "activate", "status", "end", "area", "add-case", "mobilise", "warning")


class IncidentAction(APIView):
    """POST /api/emergency/incidents/{number}/{action}/: `level` {level, reason}; `activate` {plan?: code};
    `status` {status, note?}; `end` {note}; `area` {area: GeoJSON}; `add-case` {case}; `mobilise` {resource, note};
    `warning` {type, level, headline, description, area, expires, …: as POST /api/warnings/, a drill's a drill}."""

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, operation_id="emergency_incident_action")
    def post(self, request, number: str, action: str):
        if action not in ACTIONS:
            raise ValidationError({"action": [_("Unknown action.")]})
        incident = scoped_object(request)
        d = request.data if hasattr(request.data, "get") else {}
        user = request.user
        extra = {}
        if action == "level":
            try:
                level = int(d.get("level"))
            except (TypeError, ValueError) as exc:
                raise ValidationError({"level": [_("Choose a level from I to IV.")]}) from exc
            result, conflict = _call(command.change_level, user, incident, level, str(d.get("reason") or ""),
                                     incident=incident)
            if result and result["suggested_plan"]:
                p = result["suggested_plan"]
                extra["suggested_plan"] = {"code": p.code, "name": str(p)}
        elif action == "activate":
            plan = None
            if d.get("plan"):
                plan = Plan.objects.filter(code=str(d["plan"]), active=True).order_by("-version").first()
                if plan is None:
                    raise ValidationError({"plan": [_("No plan in force by that code.")]})
            result, conflict = _call(command.activate_plan, user, incident, plan, incident=incident)
        elif action in ("status", "end"):
            target = Status.ENDED if action == "end" else str(d.get("status") or "")
            result, conflict = _call(command.set_status, user, incident, target, str(d.get("note") or ""),
                                     incident=incident)
        elif action == "area":
            result, conflict = _call(command.change_area, user, incident, d.get("area"), incident=incident)
        elif action == "add-case":
            case = visible_cases(user).filter(number=str(d.get("case") or "")).first()
            if case is None:
                raise ValidationError({"case": [_("No such case.")]})
            result, conflict = _call(command.add_case, user, incident, case, incident=incident)
        elif action == "warning":
            data = IssueInput(data=d)
            data.is_valid(raise_exception=True)
            draft = Draft(**{k: v for k, v in data.validated_data.items() if k != "exercise"})
            result, conflict = _call(command.issue_warning, user, incident, draft, incident=incident)
            if result is not None:
                extra["warning"] = {"id": result.pk, "headline": result.headline}
        else:
            resource = visible_resources(user).filter(code=str(d.get("resource") or "")).first()
            if resource is None:
                raise ValidationError({"resource": [_("No such resource.")]})
            result, conflict = _call(command.mobilise, user, incident, resource, str(d.get("note") or ""),
                                     incident=incident)
        if conflict is not None:
            return conflict
        incident.refresh_from_db()
        return Response({**board.incident_summary(incident), **extra})


class OfferedCases(APIView):
    """Open cases reported inside the area since the incident opened and not yet part of one."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, number: str):
        incident = scoped_object(request)
        return Response({"results": [
            {"number": c.number, "category_name": c.category.name_zh, "status": c.status,
             "status_label": c.get_status_display(), "created_at": c.created_at,
             "lon": c.location.x, "lat": c.location.y} for c in command.offered_cases(request.user, incident)]})


class IncidentReport(APIView):
    """The situation report: ?kind=first|followup|final (default from the status), ?as=html|pdf."""

    @extend_schema(responses={(200, "text/html"): OpenApiTypes.STR, (200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, number: str):
        incident = scoped_object(request)
        kind = request.query_params.get("kind") or reports.default_kind(incident)
        fmt = request.query_params.get("as", "pdf")
        if kind not in reports.KINDS:
            raise ValidationError({"kind": [_("first, followup or final.")]})
        if fmt not in ("html", "pdf"):
            raise ValidationError({"as": [_("html or pdf.")]})
        if fmt == "html":
            return HttpResponse(reports.render_html(incident, kind), content_type="text/html; charset=utf-8")
        response = HttpResponse(reports.render_pdf(incident, kind), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{incident.number}-{kind}.pdf"'
        return response


class TaskList(APIView):
    """The tasks the user works: a bureau's (a crew's phone: its unit's), open ones first; ?state=open|all."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        qs = visible_tasks(request.user).select_related("incident", "bureau", "unit")
        if request.query_params.get("state", "open") == "open":
            qs = qs.exclude(state="done").exclude(incident__status=Status.ENDED)
        return Response({"results": [board.task_row(t) for t in qs.order_by("due_at")[:500]]})


class TaskStep(APIView):
    """POST /api/emergency/tasks/{id}/{acknowledge|assign|done}/ (`unit` for assign, `note` for done)."""

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk: int, step: str):
        if step not in ("acknowledge", "assign", "done"):
            raise ValidationError({"step": [_("Unknown step.")]})
        task = scoped_object(request)
        d = request.data if hasattr(request.data, "get") else {}
        unit = None
        if step == "assign":
            unit = commanded_units(request.user).filter(code=str(d.get("unit") or "")).first()
            if unit is None:
                raise ValidationError({"unit": [_("Not a unit you command.")]})
        try:
            done, conflict = _call(command.task_step, request.user, task, step, str(d.get("note") or ""), unit=unit)
        except PermissionDenied:
            raise
        if conflict is not None:
            return conflict
        return Response(board.task_row(done))


class Resources(APIView):
    """Emergency resources: ?near=lon,lat (nearest first, ?limit=) or ?within=<incident number> or ?kind=."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        from django.contrib.gis.db.models.functions import Distance

        qs = visible_resources(request.user).select_related("bureau").prefetch_related("items")
        kind = request.query_params.get("kind")
        if kind:
            if kind not in ResourceKind.values:
                raise ValidationError({"kind": [_("Unknown kind.")]})
            qs = qs.filter(kind=kind)
        near, within = request.query_params.get("near"), request.query_params.get("within")
        try:
            limit = int(request.query_params.get("limit", 10))
        except ValueError as exc:
            raise ValidationError({"limit": [_("A whole number is required.")]}) from exc
        if not 1 <= limit <= 200:
            raise ValidationError({"limit": [_("Between %(low)d and %(high)d.") % {"low": 1, "high": 200}]})
        if near:
            try:
                lon, lat = (float(v) for v in near.split(","))
                assert -180 <= lon <= 180 and -90 <= lat <= 90
            except (ValueError, AssertionError) as exc:
                raise ValidationError({"near": [_("Give lon,lat.")]}) from exc
            point = Point(lon, lat, srid=4326)
            rows = qs.annotate(d=Distance("location", point)).order_by("d")[:limit]
            return Response({"results": [board.resource_row(r, metres=r.d.m) for r in rows]})
        if within:
            incident = visible_incidents(request.user).filter(number=within).first()
            if incident is None:
                raise ValidationError({"within": [_("No such incident.")]})
            qs = qs.filter(location__intersects=incident.area)
        return Response({"results": [board.resource_row(r) for r in qs[:500]]})


class PlanList(APIView):
    """Plans in force (latest version of each) with their tasks, and the headquarters."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        latest: dict[str, Plan] = {}
        for p in Plan.objects.filter(active=True).select_related("event_type", "headquarters").order_by(
                "code", "-version"):
            latest.setdefault(p.code, p)
        return Response({"plans": [
            {"code": p.code, "name": p.name, "version": p.version, "event_type": p.event_type.code,
             "event_type_name": p.event_type.name, "levels": [p.most_severe, p.least_severe],
             "headquarters": p.headquarters.name,
             "tasks": [{"kind": t.kind, "title": t.title, "bureau": t.bureau.name if t.bureau_id else None,
                        "limit_minutes": t.limit_minutes} for t in p.tasks.select_related("bureau")]}
            for p in latest.values()],
            "headquarters": [{"code": h.code, "name": h.name, "district": h.district.name if h.district_id else None,
                              "bureaus": [b.name for b in h.bureaus.all()]}
                             for h in Headquarters.objects.select_related("district").prefetch_related("bureaus")],
            "event_types": [{"code": t.code, "name": t.name, "category": t.category}
                            for t in EventType.objects.all()]})
