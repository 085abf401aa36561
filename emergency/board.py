"""What the incident board shows, in one answer: the area, the cases inside it, units and their positions, the
emergency resources in and near it, sensors in alarm and the pipes and components affected, the task list and
the timeline from the log. Each layer is one query bounded by the area's index (and capped), so the answer stays
fast with ten thousand cases in the area (bench/emergency.py)."""

import json

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from alerts.models import EarlyWarning
from alerts.views import summary
from dispatch.scoping import commanded_units
from incidents.models import Category
from incidents.scoping import visible_cases

from .models import Incident, IncidentLog, IncidentTask, Mobilisation, Resource

ACTION_LABELS = {  # the log's actions as a person reads them (the board's timeline, the reports)
    "open": _("Incident reported"), "case_added": _("Case taken in"), "level_up": _("Level raised"),
    "level_down": _("Level lowered"), "plan_reevaluated": _("Plan re-evaluated"), "plan_activated": _("Plan activated"),
    "task_issued": _("Task issued"), "task_acknowledge": _("Task acknowledged"), "task_assign": _("Crew assigned"),
    "task_done": _("Task done"), "task_escalated": _("Task overdue, escalated (督办)"), "status": _("Status changed"),
    "end": _("Response ended"), "area": _("Area changed"), "mobilised": _("Resource mobilised"),
    "warning_issued": _("Warning issued"),
}
MAX_CASE_POINTS = 20000  # the board draws each case; beyond this it says how many more there are
RESOURCE_MARGIN_M = 3000  # resources within this distance of the area are shown too (shelters just outside it)


def incident_summary(incident: Incident) -> dict:
    return {"number": incident.number, "title": incident.title, "level": incident.level,
            "level_label": incident.get_level_display(), "status": incident.status,
            "status_label": incident.get_status_display(), "drill": incident.drill,
            "event_type": incident.event_type.code, "event_type_name": incident.event_type.name,
            "category": incident.event_type.category,
            "category_name": str(incident.event_type.get_category_display()),
            "headquarters": incident.headquarters.name if incident.headquarters_id else None,
            "commander": (incident.commander.get_full_name() or incident.commander.get_username())
            if incident.commander_id else None,
            "plan": str(incident.plan) if incident.plan_id else None,
            "plan_activated_at": incident.plan_activated_at, "created_at": incident.created_at,
            "ended_at": incident.ended_at, "version": incident.version,
            "districts": [d.name for d in incident.districts.all()]}


def task_row(task: IncidentTask, now=None) -> dict:
    now = now or timezone.now()
    return {"id": task.pk, "incident": task.incident.number, "incident_title": task.incident.title,
            "drill": task.incident.drill, "kind": task.kind, "kind_label": task.get_kind_display(), "title": task.title,
            "bureau": task.bureau.name, "bureau_code": task.bureau.code,
            "unit": task.unit.code if task.unit_id else None, "unit_name": task.unit.name if task.unit_id else None,
            "limit_minutes": task.limit_minutes, "issued_at": task.issued_at, "due_at": task.due_at,
            "state": task.state, "state_label": task.get_state_display(), "acknowledged_at": task.acknowledged_at,
            "done_at": task.done_at, "note": task.note, "escalated": task.escalated_at is not None,
            "overdue": (task.done_at or now) > task.due_at,
            "minutes_taken": round((task.done_at - task.issued_at).total_seconds() / 60, 1) if task.done_at else None}


def tasks(incident: Incident) -> list[dict]:
    now = timezone.now()
    return [task_row(t, now) for t in incident.tasks.select_related("incident", "bureau", "unit")]


def timeline(incident: Incident) -> list[dict]:
    return [{"id": e.pk, "at": e.created_at, "action": e.action, "note": e.note, "data": e.data,
             "by": (e.actor.get_full_name() or e.actor.get_username()) if e.actor_id else None}
            for e in IncidentLog.objects.filter(incident=incident).select_related("actor").order_by("created_at", "id")]


_CASES = """
SELECT json_build_object(
           'number', coalesce(array_agg(c.number), '{}'),
           'lon', coalesce(array_agg((ST_X(c.location) * 1e6)::integer), '{}'),
           'lat', coalesce(array_agg((ST_Y(c.location) * 1e6)::integer), '{}'),
           'status', coalesce(array_agg(c.status), '{}'), 'urgency', coalesce(array_agg(c.urgency), '{}'),
           'category', coalesce(array_agg(c.category_id), '{}'), 'taken_in', coalesce(array_agg(l.id IS NOT NULL), '{}')
       )::text, count(*)
FROM (SELECT c.id, c.number, c.location, c.status, c.urgency, c.category_id FROM incidents_case c
      WHERE ST_Intersects(c.location, %(area)s::geometry) AND c.id IN ({visible})
      LIMIT %(limit)s) c
LEFT JOIN emergency_incidentcase l ON l.case_id = c.id AND l.incident_id = %(incident)s
"""
# Columns rather than rows, coordinates as whole microdegrees (a tenth of a metre), the class by id with the names
# once: PostgreSQL aggregates arrays of integers far faster than it builds a JSON array per row of rounded numerics,
# and ten thousand cases carry no repeated names (bench/emergency.py, 10,000 cases: the board's data over HTTP, one
# client, p95 173 → 90 ms; this query 70 → 26 ms).
COORDINATE_SCALE = 1_000_000


class RawJSON(str):
    """JSON text made by PostgreSQL, spliced into the answer as it is (to_json): ten thousand rows are not turned
    into Python lists to be turned back into JSON."""


def cases(user: AbstractBaseUser, incident: Incident) -> dict:
    """The cases inside the area that the user sees, as columns (number, lon and lat in microdegrees, status,
    urgency, class id — its name in `categories` —, taken into the incident) of JSON built by the database, up to
    MAX_CASE_POINTS."""
    visible = visible_cases(user)
    if visible.query.where:
        visible_sql, visible_params = visible.values("id").query.sql_with_params()
        sql = _CASES.replace("c.id IN ({visible})", f"c.id IN ({visible_sql.replace('%s', '%%s')})")
    else:  # the city's centre sees every case: no subquery to join
        visible_params = ()
        sql = _CASES.replace("c.id IN ({visible})", "TRUE")
    # visible_cases' own parameters are positional; ours named: run them as one positional statement.
    sql, params = _positional(sql, {"area": incident.area.ewkt, "limit": MAX_CASE_POINTS,
                                    "incident": incident.pk}, visible_params)
    with connection.cursor() as cur:
        cur.execute(sql, params)
        columns, found = cur.fetchone()
    names = dict(Category.objects.values_list("pk", "name_zh"))
    # No order: sorting ten thousand rows costs more than the map gains; at the cap the board says there are more.
    return {"columns": RawJSON(columns), "scale": COORDINATE_SCALE, "categories": {str(k): v for k, v in names.items()},
            "count": found, "truncated": found >= MAX_CASE_POINTS, "part_of_incident": incident.case_links.count()}


def to_json(data) -> str:
    """The board as JSON text, RawJSON parts spliced in unparsed."""
    from django.core.serializers.json import DjangoJSONEncoder

    raws: dict[str, str] = {}

    def mark(value):
        if isinstance(value, RawJSON):
            key = f"\x00raw{len(raws)}\x00"
            raws[key] = str(value)
            return key
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = json.dumps(mark(data), cls=DjangoJSONEncoder, ensure_ascii=False)
    for key, raw in raws.items():
        text = text.replace(json.dumps(key), raw, 1)
    return text


def _positional(sql: str, named: dict, positional) -> tuple[str, list]:
    """Turn `%(name)s` parameters into positional ones around a subquery that brings its own."""
    import re

    params: list = []
    out = []
    pos = iter(positional)
    for piece in re.split(r"(%\(\w+\)s|%%s)", sql):
        if piece.startswith("%("):
            params.append(named[piece[2:-2]])
            out.append("%s")
        elif piece == "%%s":
            params.append(next(pos))
            out.append("%s")
        else:
            out.append(piece)
    return "".join(out), params


def margin_degrees(incident: Incident) -> float:
    """RESOURCE_MARGIN_M in degrees at the area's latitude (longitude degrees are the shorter: a slightly wider
    margin north–south, never a narrower one), so that ST_DWithin uses the geometry index."""
    import math

    lat = incident.area.centroid.y
    return RESOURCE_MARGIN_M / (111_320 * math.cos(math.radians(lat)))


def units(user: AbstractBaseUser, incident: Incident) -> list[dict]:
    """Response units the user commands with a position within reach of the area (in it or within the margin)."""
    from django.db.models import F, FloatField, Func

    from dispatch.models import ResponseUnit

    labels = {value: str(label) for value, label in ResponseUnit.State.choices}  # translated once, not per unit
    # Coordinates from the database: a thousand geometries are not parsed in Python to read two numbers each.
    rows = (commanded_units(user).filter(position__isnull=False)
            .filter(position__dwithin=(incident.area, margin_degrees(incident)))
            .annotate(lon=Func(F("position"), function="ST_X", output_field=FloatField()),
                      lat=Func(F("position"), function="ST_Y", output_field=FloatField()))
            .values_list("code", "name", "bureau__name", "state", "lon", "lat", "position_at")[:2000])
    return [{"code": code, "name": name, "bureau": bureau, "state": state, "state_label": labels.get(state, state),
             "lon": round(lon, 6), "lat": round(lat, 6), "position_at": at}
            for code, name, bureau, state, lon, lat, at in rows]


def resources(incident: Incident) -> list[dict]:
    mobilised = set(Mobilisation.objects.filter(incident=incident).values_list("resource_id", flat=True))
    qs = (Resource.objects.filter(active=True, location__dwithin=(incident.area, margin_degrees(incident)))
          .select_related("bureau").prefetch_related("items")[:500])
    return [resource_row(r, mobilised=r.pk in mobilised) for r in qs]


def resource_row(r: Resource, mobilised: bool = False, metres: float | None = None) -> dict:
    row = {"code": r.code, "kind": r.kind, "kind_label": r.get_kind_display(), "name": r.name,
           "lon": round(r.location.x, 6), "lat": round(r.location.y, 6), "bureau": r.bureau.name,
           "contact": r.contact_name, "phone": r.contact_phone, "capacity": r.capacity, "size": r.size,
           "speciality": r.speciality, "items": [f"{i.name} {i.quantity}{i.unit}" for i in r.items.all()],
           "mobilised": mobilised}
    if metres is not None:
        row["distance_m"] = round(metres)
    return row


def sensors(user: AbstractBaseUser, incident: Incident) -> list[dict]:
    """Sensors inside the area in an open alarm episode (warning or alarm), as the user may see them."""
    from monitoring.models import AlarmEpisode
    from monitoring.scoping import visible_sensors

    episodes = (AlarmEpisode.objects.filter(ended_at__isnull=True, sensor__position__intersects=incident.area,
                                            sensor__in=visible_sensors(user).values("pk"))
                .select_related("sensor", "sensor__kind")[:500])
    return [{"code": e.sensor.code, "name": e.sensor.name, "kind": e.sensor.kind.name, "level": e.level,
             "level_label": e.get_level_display(), "lon": round(e.sensor.position.x, 6),
             "lat": round(e.sensor.position.y, 6), "since": e.started_at, "peak": e.peak_value,
             "unit": e.sensor.kind.unit} for e in episodes]


def pipes(user: AbstractBaseUser, incident: Incident) -> dict:
    """Pipe segments and census components inside the area (counts by network kind, and the segments' lines
    up to a cap), for those who may read them; empty for the others."""
    from citygrid.policy import allows

    out: dict = {"segments": [], "by_kind": {}, "components": 0}
    try:
        from assets.models import Component, NetworkKind, PipeSegment
        from assets.scoping import visible_components, visible_segments
    except ImportError:  # an older census without pipes
        return out
    if allows(user, "GET", "assets:pipe-list"):
        segs = visible_segments(user, PipeSegment.objects.filter(geom__intersects=incident.area))
        from django.db.models import Count

        # By the network's name (给水, 排水…), as people read it, not its code.
        out["by_kind"] = {str(NetworkKind(row["network__kind"]).label): row["n"]
                          for row in segs.values("network__kind").annotate(n=Count("id"))}
        out["segments"] = [{"code": s.code, "kind": s.network.kind, "geometry": json.loads(s.geom.geojson)}
                           for s in segs.select_related("network")[:300]]
    if allows(user, "GET", "assets:component-list"):
        out["components"] = visible_components(user, Component.objects.filter(
            geom__intersects=incident.area)).count()
    return out


def warnings(incident: Incident) -> list[dict]:
    """The warnings issued for the incident (CAP <incidents> = its number), latest first, as the warnings page
    shows them (alerts.views.summary) with their state now."""
    return [summary(w) for w in EarlyWarning.objects.filter(incident=incident.number)
            .select_related("type", "district").order_by("-issued_at")]


def board(user: AbstractBaseUser, incident: Incident) -> dict:
    return {"incident": incident_summary(incident), "area": json.loads(incident.area.geojson),
            "cases": cases(user, incident), "units": units(user, incident), "resources": resources(incident),
            "sensors": sensors(user, incident), "pipes": pipes(user, incident), "tasks": tasks(incident),
            "warnings": warnings(incident), "timeline": timeline(incident)}
