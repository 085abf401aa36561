"""Dispatch's part in a case's transitions: routing on registration (and auto-dispatch where the class
allows it), the processing deadline on dispatch and on reopening, and a reason for overriding the routing
rule."""

from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from grids.models import Bureau
from incidents import lifecycle
from incidents.models import Case, CaseLog, TimeLimit

from .calendar import WorkingCalendar
from .models import DispatchPolicy, RoutingDecision
from .routing import route


@receiver(lifecycle.transitioned, sender=Case)
def on_transition(sender, case: Case, action: str, actor, entry: CaseLog, **kwargs) -> None:
    if action == "register":
        _route(case)
    elif action == "dispatch":
        _check_override(case, entry)
        _set_deadline(case, entry)
    elif action == "reopen":  # rework after a callback: a fresh deadline, or routing when it lost its bureau
        if case.bureau_id:
            _set_deadline(case, entry)
        else:
            _route(case)


def _route(case: Case) -> None:
    decision = route(case)
    RoutingDecision.objects.update_or_create(case=case, defaults={
        "rule": decision.rule, "bureau_id": decision.bureau_id, "explanation": decision.explanation})
    CaseLog.objects.create(case=case, action="route", to_status=case.status, from_status=case.status,
                           note=decision.explanation)
    if decision.bureau_id is None:
        return
    major = case.category.parent_id
    if DispatchPolicy.objects.filter(category_id=major, auto_dispatch=True).exists():
        bureau = decision.rule.bureau if decision.rule else Bureau.objects.get(pk=decision.bureau_id)
        dispatched = lifecycle.system_dispatch(case, bureau=bureau,
                                               note=_("auto-dispatch: %(why)s") % {"why": decision.explanation})
        case.status, case.bureau, case.deadline, case.version = (dispatched.status, dispatched.bureau,
                                                                 dispatched.deadline, dispatched.version)


def _check_override(case: Case, entry: CaseLog) -> None:
    if entry.actor_id is None:
        return
    proposed = RoutingDecision.objects.filter(case=case).values_list("bureau_id", flat=True).first()
    if proposed and proposed != case.bureau_id and not entry.note.strip():
        raise lifecycle.InvalidAction({"note": [_("Give a reason for dispatching elsewhere than the routing rule.")]})


def _set_deadline(case: Case, entry: CaseLog) -> None:
    if case.deadline is not None and case.deadline > timezone.now():
        return  # the dispatcher set one
    limit = TimeLimit.objects.filter(category_id=case.category_id, urgency=case.urgency).first()
    if limit is None:
        return
    case.deadline = WorkingCalendar.load().add_limit(entry.created_at, limit.amount, limit.unit)
    case.save(update_fields=["deadline"])

