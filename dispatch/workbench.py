"""The bureau's workbench queue (专业部门工作台): the open cases dispatched to a user's bureau, most urgent deadline
first, each with its SLA light, the office hours left until its deadline (dispatch.calendar) and its latest
warning or escalation (督办) — marked when it was addressed to this user (the bureau's supervisor, or its staff
when it has none: dispatch.watch)."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from incidents.lifecycle import allowed_actions
from incidents.models import Case, Status, Urgency
from incidents.scoping import user_bureau_id, visible_cases

from .calendar import WorkingCalendar
from .models import Escalation

TO_DO = (Status.DISPATCHED, Status.IN_PROGRESS, Status.POSTPONED)
QUEUE_STATUSES = (*TO_DO, Status.PROCESSED)  # processed: waiting for the inspector's check
LIMIT = 500


@dataclass(frozen=True)
class QueueFilter:
    statuses: tuple[str, ...] = TO_DO
    major: str = ""  # a major class code
    urgency: str = ""
    escalated_only: bool = False  # overdue or escalated (督办)


def receives_escalations(user: AbstractBaseUser) -> bool:
    """Whether the watch addresses this user's bureau's escalations to him (dispatch.watch._recipients)."""
    from grids.models import Bureau

    bureau = Bureau.objects.filter(pk=user_bureau_id(user)).values_list("supervisor_id", flat=True).first()
    return user_bureau_id(user) is not None and bureau in (None, user.pk)


def queue(user: AbstractBaseUser, f: QueueFilter, now=None) -> dict:
    """The bureau's cases for the workbench, deadline first (none last), at most LIMIT of them."""
    now = now or timezone.now()
    bureau = user_bureau_id(user)
    cases = (visible_cases(user).filter(bureau_id=bureau, status__in=f.statuses)
             .select_related("category__parent", "district", "street", "community", "cell", "bureau"))
    if f.major:
        cases = cases.filter(Q(category__parent__code=f.major) | Q(category__code=f.major))
    if f.urgency:
        cases = cases.filter(urgency=f.urgency)
    if f.escalated_only:
        escalated = Escalation.objects.filter(case=OuterRef("pk"), deadline=OuterRef("deadline"),
                                              level=Escalation.Level.OVERDUE)
        cases = cases.filter(Q(deadline__lt=now) | Q(Exists(escalated)))
    count = cases.count()
    rows = list(cases.order_by(F("deadline").asc(nulls_last=True), "created_at")[:LIMIT])
    latest = _latest_escalations(rows, user)
    calendar = WorkingCalendar.load()
    return {"count": count, "results": [_row(c, user, calendar, latest.get(c.pk), now) for c in rows]}


def _latest_escalations(cases: list[Case], user: AbstractBaseUser) -> dict[int, dict]:
    """Each case's latest warning or escalation for its current processing deadline (one before a postponement
    was approved no longer applies)."""
    out: dict[int, dict] = {}
    deadlines = {c.pk: c.deadline for c in cases}
    found = (Escalation.objects.filter(case_id__in=list(deadlines)).order_by("created_at")
             .values("pk", "case_id", "level", "deadline", "created_at"))
    mine = set(Escalation.notified.through.objects.filter(user_id=user.pk, escalation__case_id__in=list(deadlines))
               .values_list("escalation_id", flat=True))
    for e in found:
        if e["deadline"] == deadlines[e["case_id"]]:
            out[e["case_id"]] = {"level": e["level"], "at": _local(e["created_at"]), "to_me": e["pk"] in mine}
    return out


def _local(value):
    """In the city's time, as the case API gives its times (DRF's fields), so a page can show them as they are."""
    return timezone.localtime(value) if value else None


def _row(case: Case, user: AbstractBaseUser, calendar: WorkingCalendar, escalation: dict | None, now) -> dict:
    # A processed case waits for the inspector: the bureau's deadline no longer runs.
    running = case.deadline is not None and case.status != Status.PROCESSED
    hours_left = round(calendar.working_hours(now, case.deadline), 1) if running else None
    return {
        "number": case.number, "status": case.status, "status_label": case.get_status_display(),
        "version": case.version, "category_name": case.category.name_zh,
        "major_name": case.category.parent.name_zh if case.category.parent_id else "",
        "urgency": case.urgency, "urgency_label": Urgency(case.urgency).label,
        "description": case.description[:200], "address": case.address,
        "place": " ".join(a.name for a in (case.district, case.street, case.community) if a),
        "cell": case.cell.code if case.cell_id else None,
        "lon": case.location.x, "lat": case.location.y,
        "created_at": _local(case.created_at), "deadline": _local(case.deadline),
        "sla": case.sla_light(now) if running else "none",
        "hours_left": hours_left, "rework_count": case.rework_count,
        "postponement_until": _local(case.postponement_until), "escalation": escalation,
        "allowed_actions": allowed_actions(case, user),
    }
