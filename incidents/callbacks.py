"""Callbacks (回访): once the work on a case is closed, the hotline desk calls back the person who reported it —
reached or not, and if reached: satisfied, basically satisfied or not satisfied, with a note. A "not satisfied"
can reopen the work as rework (`lifecycle.reopen`) in the same transaction.

Who is called: every case with a contact number whose work closed within CALLBACK_WINDOW_DAYS — the case
itself closed, or a case merged into one that closed (a second caller about the same problem is called too) —
until someone reached them after that closure, or CALLBACK_MAX_ATTEMPTS calls found nobody. A case reopened
and closed again is called again. Callbacks are append-only (a trigger) and in the audit trail."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Case as CaseExpr
from django.db.models import Count, DateTimeField, Exists, F, OuterRef, Q, QuerySet, Subquery, When
from django.utils import timezone
from django.utils.translation import gettext as _

from citygrid import roles
from citygrid.audit import record
from citygrid.roles import has_role

from . import lifecycle, scoping
from .models import Callback, Case, CaseLog, Satisfaction, Status

NOTE_MAX = 500

# When the work of a case closed: its own closure, or that of the case it was merged into.
_WORK_CLOSED_AT = CaseExpr(When(status=Status.MERGED, then=F("merged_into__closed_at")), default=F("closed_at"),
                           output_field=DateTimeField())


def due(user, now=None) -> QuerySet:
    """The cases this user's desk should call back now, the longest waiting first, with `work_closed_at` and
    `attempts` (calls since that closure that reached nobody)."""
    now = now or timezone.now()
    since = now - timedelta(days=settings.CALLBACK_WINDOW_DAYS)
    closed = (Q(status=Status.CLOSED, closed_at__gte=since)
              | Q(status=Status.MERGED, merged_into__status=Status.CLOSED, merged_into__closed_at__gte=since))
    after_closure = Callback.objects.filter(case=OuterRef("pk"), created_at__gte=OuterRef("work_closed_at"))
    attempts = (after_closure.filter(reached=False).order_by().values("case")
                .annotate(n=Count("pk")).values("n"))
    return (scoping.visible_cases(user).exclude(contact_phone="").filter(closed)
            .annotate(work_closed_at=_WORK_CLOSED_AT)
            .annotate(answered=Exists(after_closure.filter(reached=True)), attempts=Subquery(attempts))
            .filter(answered=False)
            .filter(Q(attempts__isnull=True) | Q(attempts__lt=settings.CALLBACK_MAX_ATTEMPTS))
            .select_related("category", "district", "street", "community", "merged_into")
            .order_by("work_closed_at", "id"))


class CallbackError(ValueError):
    """The callback's own input is wrong: field → messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(str(errors))
        self.errors = errors


@dataclass
class Outcome:
    callback: Callback
    work_case: Case  # as it is after the call (reopened or not)


def _check(reached: bool | None, satisfaction: str, note: str, reopen: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if reached is None:
        errors["reached"] = [_("Say whether the caller was reached.")]
    elif reached and satisfaction not in Satisfaction.values:
        errors["satisfaction"] = [_("Choose how satisfied the caller is.")]
    elif not reached and satisfaction:
        errors["satisfaction"] = [_("Nobody was reached: no satisfaction to record.")]
    if len(note) > NOTE_MAX:
        errors["note"] = [_("At most %(n)d characters.") % {"n": NOTE_MAX}]
    if "\x00" in note:
        errors["note"] = [_("A NUL character is not allowed.")]
    if reopen and satisfaction != Satisfaction.NOT_SATISFIED:
        errors["reopen"] = [_("Only a caller who is not satisfied reopens the case.")]
    return errors


def record_callback(case: Case, operator, *, reached: bool | None, satisfaction: str = "", note: str = "",
                    reopen: bool = False) -> Outcome:
    """Record one call back to the reporter of `case`; with `reopen`, the work goes back as rework.

    PermissionDenied outside the operator's role or scope; CallbackError on bad input; lifecycle.TransitionError
    when the case is not waiting for a callback (not closed, or someone reached the caller meanwhile)."""
    if not has_role(operator, roles.OPERATOR, roles.DISPATCHER):
        raise PermissionDenied(_("Your role may not do this."))
    if not scoping.visible_cases(operator).filter(pk=case.pk).exists():
        raise PermissionDenied(_("This case is outside your district."))
    satisfaction, note = (satisfaction or "").strip(), (note or "").strip()
    errors = _check(reached, satisfaction, note, reopen)
    if errors:
        raise CallbackError(errors)
    with transaction.atomic():
        # The case that carries the work is locked: two operators calling back the same closure at once, one
        # records it and the other is told.
        called = Case.objects.select_related("merged_into").get(pk=case.pk)
        work = called.merged_into if called.status == Status.MERGED and called.merged_into_id else called
        work = Case.objects.select_for_update().get(pk=work.pk)
        if work.status != Status.CLOSED:
            raise lifecycle.TransitionError(_("The work on this case is not closed: nothing to call back yet."), work)
        if Callback.objects.filter(case=called, reached=True, created_at__gte=work.closed_at).exists():
            raise lifecycle.TransitionError(_("Someone has already reached this caller."), work)
        callback = Callback.objects.create(case=called, work_case=work, operator=operator, reached=bool(reached),
                                           satisfaction=satisfaction if reached else "", note=note,
                                           reopened=reopen, bureau_id=work.bureau_id, district_id=work.district_id)
        said = (Satisfaction(satisfaction).label if reached else _("not reached"))
        CaseLog.objects.create(case=called, action="callback", actor=operator, from_status=called.status,
                               to_status=called.status, note=f"{said}{': ' + note if note else ''}"[:1000],
                               bureau_id=work.bureau_id)
        record("case_callback", user=operator, target=f"case: {called.number}",
               detail=f"{'reached' if reached else 'not reached'} {satisfaction}{' reopen' if reopen else ''}")
        if reopen:
            reason = _("Callback: the caller is not satisfied.") + (f" {note}" if note else "")
            work = lifecycle.reopen(work, operator, reason=reason)
    return Outcome(callback, work)
