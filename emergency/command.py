"""The rules of emergency command, one function per decision: open an incident (by hand, from an emergency case,
from a sensor alarm), change its level (升级/降级, with a reason, re-evaluating the plan), change its area,
activate a plan (its tasks to the bureaus), move its status, take in cases, mobilise resources, and the tasks'
steps (acknowledge, assign a crew, done) with the escalation of overdue ones.

Each locks the incident row, checks role and state, and appends to the incident log in the same transaction;
views only translate. `InvalidAction` is bad input (400), `Conflict` a state that does not allow it (409),
PermissionDenied a role or scope that does not (403)."""

import dataclasses
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Point, Polygon
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts import rules as warning_rules
from alerts.models import EarlyWarning
from citygrid import roles
from citygrid.audit import record
from citygrid.roles import user_roles
from dispatch.emergency import is_emergency
from dispatch.models import ResponseUnit
from dispatch.scoping import crew_unit_id
from grids.models import Area, Level
from incidents.lifecycle import InvalidAction
from incidents.models import FINAL_STATUSES, Case
from incidents.scoping import user_bureau_id, user_district_id, user_district_ids, visible_cases

from .models import (
    EventType,
    Headquarters,
    Incident,
    IncidentCase,
    IncidentLog,
    IncidentTask,
    Mobilisation,
    Plan,
    Resource,
    Status,
    TaskState,
)
from .models import Level as Grade

# A case or a sensor gives a point; the first area drawn around it, until the centre draws the real one.
DEFAULT_RADIUS_M = 500
STATUS_ORDER = [Status.OCCURRED, Status.RESPONDING, Status.HANDLING, Status.ENDED]


class Conflict(Exception):
    """The incident or task is not in a state that allows this (ended, already activated, a step done)."""


def _deny() -> PermissionDenied:
    return PermissionDenied(_("Your role may not do this."))


def log(incident: Incident, actor, action: str, note: str = "", **data) -> IncidentLog:
    return IncidentLog.objects.create(incident=incident, actor=actor, action=action, note=note, data=data)


def _next_number(now: datetime) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT nextval('emergency_incident_number_seq')")
        seq = cur.fetchone()[0]
    return f"YJ{timezone.localtime(now):%Y%m%d}{seq:04d}"


def as_area(geometry) -> MultiPolygon:
    """A drawn area (GeoJSON dict or string, or a GEOS geometry) as a valid WGS84 multipolygon; InvalidAction
    with a readable message otherwise."""
    import json

    try:
        if isinstance(geometry, dict):
            geometry = json.dumps(geometry)
        geom = geometry if hasattr(geometry, "geom_type") else GEOSGeometry(str(geometry))
    except (ValueError, TypeError, Exception) as exc:  # GEOS raises its own errors for malformed input
        raise InvalidAction({"area": [_("Not a GeoJSON polygon.")]}) from exc
    if geom.srid is None:
        geom.srid = 4326
    if isinstance(geom, Polygon):
        geom = MultiPolygon(geom, srid=geom.srid)
    if not isinstance(geom, MultiPolygon) or geom.empty:
        raise InvalidAction({"area": [_("Draw a polygon.")]})
    if not geom.valid:
        geom = geom.buffer(0)
        if isinstance(geom, Polygon):
            geom = MultiPolygon(geom, srid=4326)
        if not isinstance(geom, MultiPolygon) or geom.empty:
            raise InvalidAction({"area": [_("The polygon crosses itself.")]})
    x0, y0, x1, y1 = geom.extent
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise InvalidAction({"area": [_("Not a WGS84 longitude/latitude.")]})
    return geom


def circle(point: Point, metres: float = DEFAULT_RADIUS_M) -> MultiPolygon:
    """A polygon of about `metres` around a point (in the local UTM-like Web Mercator, fine at a city's scale)."""
    p = point.transform(3857, clone=True)
    import math

    scale = 1 / math.cos(math.radians(point.y))  # Web Mercator stretches distances by 1/cos(latitude)
    area = p.buffer(metres * scale, quadsegs=8)
    area.transform(4326)
    return MultiPolygon(area, srid=4326)


def touched_districts(area: MultiPolygon) -> list[int]:
    """The districts (as they are now: the active generation) an incident's area touches. An old generation's row
    of a district would still cover a strip it has since given up, and its staff see incidents by every row."""
    return list(Area.objects.current().filter(level=Level.DISTRICT, geom__intersects=area)
                .values_list("pk", flat=True))


def _centre_scope_check(actor: AbstractBaseUser, district_ids: list[int]) -> None:
    """A district's centre acts only on areas that touch its district."""
    district = user_district_id(actor)
    if district and district not in district_ids:
        raise InvalidAction({"area": [_("The area must touch your district.")]})


def _is_dispatcher(actor) -> bool:
    return roles.DISPATCHER in user_roles(actor)


def open_incident(actor: AbstractBaseUser, *, title: str, event_type: EventType, level: int, area=None,
                  headquarters: Headquarters | None = None, case: Case | None = None, episode=None,
                  drill: bool = False, description: str = "", now: datetime | None = None) -> Incident:
    """Open an incident: by hand (an area drawn), from an emergency case (the case becomes part of it, the area
    defaults to a circle around it) or from a sensor alarm episode (its case too, if it raised one). A drill
    takes no real case or alarm: it is a rehearsal and must not touch the figures."""
    if not _is_dispatcher(actor):
        raise _deny()
    now = now or timezone.now()
    if level not in Grade.values:
        raise InvalidAction({"level": [_("Choose a level from I to IV.")]})
    if not (title or "").strip():
        raise InvalidAction({"title": [_("This field is required.")]})
    if headquarters is not None and not may_place_under(actor, headquarters):
        raise InvalidAction({"headquarters": [_("%(name)s is not a headquarters you may place an incident under.")
                                              % {"name": headquarters.name}]})
    if drill and (case is not None or episode is not None):
        raise InvalidAction({"drill": [_("A drill is opened by hand: real cases and alarms stay out of it.")]})
    if episode is not None and case is None and episode.case_id:
        case = episode.case
    if case is not None:
        if not is_emergency(case):
            raise InvalidAction({"case": [_("Only an emergency case opens an incident.")]})
        if case.status in FINAL_STATUSES:
            raise InvalidAction({"case": [_("This case is closed.")]})
        if IncidentCase.objects.filter(case=case).exists():
            raise InvalidAction({"case": [_("This case is already part of an incident.")]})
    if area is not None:
        geom = as_area(area)
    elif case is not None:
        geom = circle(case.location)
    elif episode is not None:
        geom = circle(episode.sensor.position)
    else:
        raise InvalidAction({"area": [_("Draw the affected area.")]})
    districts = touched_districts(geom)
    if not districts:
        raise InvalidAction({"area": [_("The area lies outside the city's districts.")]})
    _centre_scope_check(actor, districts)
    with transaction.atomic():
        incident = Incident.objects.create(
            number=_next_number(now), title=title.strip()[:200], event_type=event_type, level=level, area=geom,
            opened_by_district_id=user_district_id(actor), headquarters=headquarters, status=Status.OCCURRED,
            drill=drill, episode=episode, description=description, created_by=actor, created_at=now)
        incident.districts.set(districts)
        source = "case" if case else "alarm" if episode else "hand"
        log(incident, actor, "open", title, level=level, source=source, drill=drill,
            case=case.number if case else None, sensor=episode.sensor.code if episode else None)
        if case is not None:
            IncidentCase.objects.create(incident=incident, case=case, added_by=actor, added_at=now)
            log(incident, actor, "case_added", case.number, case=case.number)
        record("incident_open", user=actor, target=f"incident: {incident.number}",
               detail=f"level {level} {'drill ' if drill else ''}{source}")
    return incident


def _lock(incident: Incident) -> Incident:
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if locked.status == Status.ENDED:
        raise Conflict(_("The incident has ended."))
    return locked


def may_command(actor: AbstractBaseUser, incident: Incident) -> bool:
    """The centres that see the incident (the scope was checked by the URL), its commander and its headquarters'
    people command it; a bureau's staff who are not on the headquarters do not (they work their tasks)."""
    if _is_dispatcher(actor):
        return True
    if incident.commander_id == actor.pk:
        return True
    return bool(incident.headquarters_id and incident.headquarters.people.filter(pk=actor.pk).exists())


def matching_plan(incident: Incident) -> Plan | None:
    """The plan in force for the incident's type and level, latest version; a district headquarters' plan for an
    incident of its district before the city's."""
    plans = [p for p in Plan.objects.filter(event_type=incident.event_type, active=True).select_related(
        "headquarters").order_by("code", "-version") if p.covers(incident.level)]
    latest: dict[str, Plan] = {}
    for p in plans:
        latest.setdefault(p.code, p)
    districts = set(incident.districts.values_list("pk", flat=True))
    ranked = sorted(latest.values(), key=lambda p: (p.headquarters.district_id not in districts, p.code))
    return ranked[0] if ranked else None


def change_level(actor: AbstractBaseUser, incident: Incident, level: int, reason: str) -> dict:
    """升级/降级: a decision with a reason, logged; re-evaluates the plan — the one that covers the new level is
    suggested (and said in the log) when the active one no longer does, or none is active."""
    if not may_command(actor, incident):
        raise _deny()
    if level not in Grade.values:
        raise InvalidAction({"level": [_("Choose a level from I to IV.")]})
    if not (reason or "").strip():
        raise InvalidAction({"reason": [_("Give the reason for the decision.")]})
    with transaction.atomic():
        locked = _lock(incident)
        if locked.level == level:
            raise InvalidAction({"level": [_("The incident is already at this level.")]})
        action = "level_up" if level < locked.level else "level_down"
        before = locked.level
        locked.level = level
        locked.version = F("version") + 1
        locked.save(update_fields=["level", "version"])
        locked.refresh_from_db()
        log(locked, actor, action, reason.strip(), level_from=before, level_to=level)
        suggested = matching_plan(locked)
        covered = locked.plan is not None and locked.plan.covers(level)
        if not covered:
            log(locked, actor, "plan_reevaluated",
                suggested.name if suggested else _("No plan covers this level."),
                plan=suggested.code if suggested else None, active_plan=locked.plan.code if locked.plan else None)
        record(f"incident_{action}", user=actor, target=f"incident: {locked.number}", detail=f"{before}→{level}")
    return {"incident": locked, "suggested_plan": suggested if not covered else None}


def may_place_under(actor: AbstractBaseUser, headquarters: Headquarters) -> bool:
    """Who may put an incident under a headquarters (naming it at the opening, or activating one of its plans): a
    city headquarters, the city's centre or the headquarters' people; a district headquarters, also that
    district's centre. Its people and member bureaus then see the incident."""
    if headquarters.people.filter(pk=actor.pk).exists():
        return True
    if not _is_dispatcher(actor):
        return False
    district = user_district_id(actor)
    return district is None or headquarters.district_id in user_district_ids(actor)


def may_activate(actor: AbstractBaseUser, plan: Plan) -> bool:
    return may_place_under(actor, plan.headquarters)


def activate_plan(actor: AbstractBaseUser, incident: Incident, plan: Plan | None = None,
                  now: datetime | None = None) -> list[IncidentTask]:
    """Activate a plan on the incident (the matching one by default): its tasks to their owners with deadlines
    counted from now, its headquarters in command, its notified bureaus told, the incident responding."""
    now = now or timezone.now()
    incident = Incident.objects.get(pk=incident.pk)  # the level as it is now, not as the caller last read it
    plan = plan or matching_plan(incident)
    if plan is None:
        raise InvalidAction({"plan": [_("No plan in force covers this type and level.")]})
    if plan.event_type_id != incident.event_type_id or not plan.covers(incident.level):
        raise InvalidAction({"plan": [_("This plan does not cover the incident's type and level.")]})
    if not plan.active:
        raise InvalidAction({"plan": [_("This plan version is not in force.")]})
    if not may_activate(actor, plan):
        raise _deny()
    missing = [t.title for t in plan.tasks.all() if not t.bureau_id]
    if missing:
        raise InvalidAction({"plan": [_("Tasks without an owner: %(t)s.") % {"t": "、".join(missing)}]})
    with transaction.atomic():
        locked = _lock(incident)
        if locked.plan_id == plan.pk:
            raise Conflict(_("This plan is already active on the incident."))
        tasks = [IncidentTask.objects.create(
            incident=locked, plan_task=t, kind=t.kind, title=t.title, bureau_id=t.bureau_id,
            limit_minutes=t.limit_minutes, issued_at=now, due_at=now + timedelta(minutes=t.limit_minutes))
            for t in plan.tasks.all()]
        previous = locked.plan
        locked.plan, locked.plan_activated_at = plan, now
        locked.headquarters = plan.headquarters
        if locked.status == Status.OCCURRED:
            locked.status = Status.RESPONDING
        locked.version = F("version") + 1
        locked.save(update_fields=["plan", "plan_activated_at", "headquarters", "status", "version"])
        locked.refresh_from_db()
        notified = list(plan.notify_bureaus.values_list("name", flat=True))
        log(locked, actor, "plan_activated", str(plan), plan=plan.code, version=plan.version,
            previous=previous.code if previous else None, tasks=[t.pk for t in tasks],
            headquarters=plan.headquarters.name, notified=notified)
        for t in tasks:
            log(locked, actor, "task_issued", t.title, task=t.pk, bureau=t.bureau.name, due_at=t.due_at.isoformat())
        record("incident_plan", user=actor, target=f"incident: {locked.number}", detail=f"{plan.code} v{plan.version}")
    return tasks


def set_status(actor: AbstractBaseUser, incident: Incident, status: str, note: str = "") -> Incident:
    """Forward only: 发生 → 响应 → 处置 → 结束. Ending needs a note (the final word of the final report)."""
    if not may_command(actor, incident):
        raise _deny()
    if status not in Status.values:
        raise InvalidAction({"status": [_("Unknown status.")]})
    with transaction.atomic():
        locked = _lock(incident)
        if STATUS_ORDER.index(status) <= STATUS_ORDER.index(locked.status):
            raise Conflict(_("An incident's status only moves forward."))
        if status == Status.ENDED and not (note or "").strip():
            raise InvalidAction({"note": [_("Say how it ended.")]})
        before = locked.status
        locked.status = status
        locked.ended_at = timezone.now() if status == Status.ENDED else None
        locked.version = F("version") + 1
        locked.save(update_fields=["status", "ended_at", "version"])
        locked.refresh_from_db()
        log(locked, actor, "end" if status == Status.ENDED else "status", note.strip(), status_from=before,
            status_to=status)
        record("incident_status", user=actor, target=f"incident: {locked.number}", detail=f"{before}→{status}")
    return locked


def change_area(actor: AbstractBaseUser, incident: Incident, area) -> Incident:
    if not may_command(actor, incident):
        raise _deny()
    geom = as_area(area)
    districts = touched_districts(geom)
    if not districts:
        raise InvalidAction({"area": [_("The area lies outside the city's districts.")]})
    _centre_scope_check(actor, districts)
    with transaction.atomic():
        locked = _lock(incident)
        locked.area = geom
        locked.version = F("version") + 1
        locked.save(update_fields=["area", "version"])
        locked.districts.set(districts)
        locked.refresh_from_db()
        log(locked, actor, "area", "", districts=list(Area.objects.filter(pk__in=districts).values_list(
            "name", flat=True)))
    return locked


def offered_cases(user: AbstractBaseUser, incident: Incident, limit: int = 100):
    """Open cases the user sees, reported inside the area since the incident opened, not part of any incident:
    offered to it (a drill is offered none: real cases stay out of rehearsals)."""
    if incident.drill or not incident.is_open:
        return Case.objects.none()
    qs = visible_cases(user, Case.objects.filter(location__intersects=incident.area,
                                                 created_at__gte=incident.created_at)
                       .exclude(status__in=sorted(FINAL_STATUSES)).exclude(incident_link__isnull=False))
    return qs.select_related("category").order_by("-created_at")[:limit]


def add_case(actor: AbstractBaseUser, incident: Incident, case: Case) -> IncidentCase:
    if not may_command(actor, incident):
        raise _deny()
    if incident.drill:
        raise InvalidAction({"case": [_("A drill takes no real cases.")]})
    if not visible_cases(actor).filter(pk=case.pk).exists():
        raise InvalidAction({"case": [_("No such case.")]})
    with transaction.atomic():
        locked = _lock(incident)
        if IncidentCase.objects.filter(case=case).exists():
            raise InvalidAction({"case": [_("This case is already part of an incident.")]})
        link = IncidentCase.objects.create(incident=locked, case=case, added_by=actor)
        log(locked, actor, "case_added", case.number, case=case.number)
    return link


def mobilise(actor: AbstractBaseUser, incident: Incident, resource: Resource, note: str = "") -> Mobilisation:
    if not may_command(actor, incident):
        raise _deny()
    with transaction.atomic():
        locked = _lock(incident)
        m = Mobilisation.objects.create(incident=locked, resource=resource, note=(note or "")[:200], by=actor)
        log(locked, actor, "mobilised", f"{resource.name} {note}".strip(), resource=resource.code,
            kind=resource.kind)
    return m


def issue_warning(actor: AbstractBaseUser, incident: Incident, draft: warning_rules.Draft) -> EarlyWarning:
    """预警 for the incident: issued by the warning rules (a centre's dispatcher, the area in the centre's reach),
    tied to the incident by its number (CAP <incidents>), a drill's warning a drill (never published), and the
    issue written in the incident's log in the same transaction."""
    if not may_command(actor, incident):
        raise _deny()
    with transaction.atomic():
        locked = _lock(incident)
        try:
            warning = warning_rules.issue(actor, dataclasses.replace(draft, incident=locked.number,
                                                                     exercise=locked.drill))
        except warning_rules.InvalidWarning as exc:
            raise InvalidAction(exc.errors) from exc
        log(locked, actor, "warning_issued", f"{warning.get_level_display()} · {warning.headline}",
            warning=warning.pk, level=warning.level)
    return warning


# ---- Tasks ------------------------------------------------------------------------------------------------------

def _may_work_task(actor: AbstractBaseUser, task: IncidentTask) -> bool:
    """The bureau that holds the task (a crew's phone: its unit's tasks), or a centre commanding the incident."""
    held = user_roles(actor)
    if roles.BUREAU_STAFF in held and user_bureau_id(actor) == task.bureau_id:
        crew = crew_unit_id(actor)
        if crew is None or crew == task.unit_id:
            return True
    return _is_dispatcher(actor)


def task_step(actor: AbstractBaseUser, task: IncidentTask, step: str, note: str = "",
              unit: ResponseUnit | None = None) -> IncidentTask:
    """acknowledge (签收), assign (a crew of the task's bureau), done (with a report); each once and in order."""
    if not _may_work_task(actor, task):
        raise _deny()
    now = timezone.now()
    with transaction.atomic():
        _lock(task.incident)
        locked = IncidentTask.objects.select_for_update().select_related("incident", "bureau").get(pk=task.pk)
        if step == "acknowledge":
            if locked.state != TaskState.ISSUED:
                raise Conflict(_("This task was already acknowledged."))
            locked.state, locked.acknowledged_at, locked.acknowledged_by = TaskState.ACKNOWLEDGED, now, actor
            fields = ["state", "acknowledged_at", "acknowledged_by"]
        elif step == "assign":
            if unit is None or unit.bureau_id != locked.bureau_id:
                raise InvalidAction({"unit": [_("Choose a crew of the task's bureau.")]})
            if locked.state == TaskState.DONE:
                raise Conflict(_("This task is done."))
            locked.unit = unit
            fields = ["unit"]
        elif step == "done":
            if locked.state == TaskState.DONE:
                raise Conflict(_("This task is done."))
            if not (note or "").strip():
                raise InvalidAction({"note": [_("Say what was done.")]})
            if locked.state == TaskState.ISSUED:  # done without a separate acknowledgement: acknowledged now
                locked.acknowledged_at, locked.acknowledged_by = now, actor
            locked.state, locked.done_at, locked.done_by, locked.note = TaskState.DONE, now, actor, note.strip()
            fields = ["state", "acknowledged_at", "acknowledged_by", "done_at", "done_by", "note"]
        else:
            raise InvalidAction({"step": [_("Unknown step.")]})
        locked.save(update_fields=fields)
        log(locked.incident, actor, f"task_{step}", note.strip() if step == "done" else locked.title, task=locked.pk,
            title=locked.title, bureau=locked.bureau.name, unit=unit.name if unit else None,
            late=bool(step == "done" and now > locked.due_at))
        record(f"incident_task_{step}", user=actor, target=f"incident: {locked.incident.number}",
               detail=f"task {locked.pk}")
    return locked


def escalate_overdue_tasks(now: datetime | None = None) -> int:
    """Tasks past their deadline and not done escalate once (督办), in the incident's log (so on the board, the
    workbench and the crew's page), as overdue cases do. Safe to run twice: the row is claimed by its update."""
    now = now or timezone.now()
    count = 0
    with transaction.atomic():
        due = list(IncidentTask.objects.select_for_update(skip_locked=True).select_related("incident", "bureau")
                   .filter(due_at__lt=now, escalated_at__isnull=True).exclude(state=TaskState.DONE)
                   .exclude(incident__status=Status.ENDED))
        for task in due:
            IncidentTask.objects.filter(pk=task.pk).update(escalated_at=now)
            log(task.incident, None, "task_escalated", task.title, task=task.pk, bureau=task.bureau.name,
                due_at=task.due_at.isoformat())
            count += 1
    return count
