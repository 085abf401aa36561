"""The overdue watch (run every minute by `manage.py run_scheduler`): warns of cases near the deadline of
their stage — registration, dispatch, processing, verification — and escalates (督办) overdue ones to the
bureau's staff and the command centre, in the case log."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from citygrid import roles
from incidents.models import Case, CaseLog

from .models import Escalation
from .stages import PROCESSING, STAGE_OF, StageLimits


def _recipients(case: Case) -> list[User]:
    """Who hears of an escalation: the bureau's supervisor (or, without one, its staff) and the command
    centre of the case's district and of the city."""
    who = Q(groups__name=roles.DISPATCHER) & (Q(profile__district__isnull=True) |
                                             Q(profile__district_id=case.district_id))
    if case.bureau_id and case.bureau.supervisor_id:
        who |= Q(pk=case.bureau.supervisor_id)
    elif case.bureau_id:
        who |= Q(groups__name=roles.BUREAU_STAFF, profile__bureau_id=case.bureau_id)
    return list(User.objects.filter(is_active=True).filter(who).distinct())


def _record(case: Case, level: str, deadline: datetime, note: str) -> bool:
    try:
        with transaction.atomic():
            escalation = Escalation.objects.create(case=case, level=level, deadline=deadline)
            escalation.notified.set(_recipients(case))
            CaseLog.objects.create(case=case, action="escalate" if level == Escalation.Level.OVERDUE else "warn",
                                   from_status=case.status, to_status=case.status, note=note, bureau=case.bureau)
    except IntegrityError:
        return False  # already done for this deadline (another run, or a restarted one)
    return True


def watch_deadlines(now: datetime | None = None) -> dict[str, int]:
    """Warn and escalate every open case once per stage deadline; returns how many of each were recorded."""
    now = now or timezone.now()
    counts = {"warned": 0, "escalated": 0}
    near = now + timedelta(hours=settings.NEAR_DUE_HOURS)
    limits = StageLimits()
    processing = Q(status__in=PROCESSING, deadline__isnull=False, deadline__lte=near)
    other = Q(status__in=list(STAGE_OF))
    candidates = Case.objects.filter(processing | other).select_related("bureau").order_by("pk")
    for case in candidates.iterator(chunk_size=500):
        stage, deadline = limits.deadline(case)
        if deadline is None or deadline > near:
            continue
        when = timezone.localtime(deadline)
        if deadline <= now:
            hours = (now - deadline).total_seconds() / 3600
            if _record(case, Escalation.Level.OVERDUE, deadline,
                       f"督办（{STAGE_NAMES[stage]}）：已超期 {hours:.1f} 小时（期限 {when:%Y-%m-%d %H:%M}）"):
                counts["escalated"] += 1
        elif _record(case, Escalation.Level.NEAR_DUE, deadline,
                     f"预警（{STAGE_NAMES[stage]}）：{when:%Y-%m-%d %H:%M} 到期"):
            counts["warned"] += 1
    return counts


STAGE_NAMES = {"register": "立案", "dispatch": "派遣", "process": "处置", "verify": "核查"}


def run_once() -> dict[str, int]:
    """One run of the scheduled job: a heartbeat for /readyz, then the watch."""
    from .models import Heartbeat

    Heartbeat.objects.update_or_create(name="scheduler", defaults={"beat_at": timezone.now()})
    return watch_deadlines()
