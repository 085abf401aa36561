"""The closed loop of a case (GB/T 30428): one function per transition.

Each function locks the case row, checks the actor's role and scope, the case's state and (when the
client sends it) the version it acted on, then changes the case and appends one CaseLog entry, all in
one transaction: an illegal or concurrent action changes nothing.

    reported ─register→ registered ─dispatch→ dispatched ─accept→ in_progress ─process→ processed
       │                    ▲                     │                  ▲   │                  │
       └─reject→ rejected   └────── returned ←return              rework │ postpone       verify
                                                                     └───┴──────────────────┤
                                                         closed ←close─ verified ←──────────┘
    cancel: any open state → cancelled;   merge: reported/registered → merged into another case
    reopen (返工 after a callback): closed → dispatched again to the same bureau (→ registered when that
    bureau is no longer active), with a fresh processing deadline
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _

from citygrid import roles
from citygrid.roles import user_roles
from grids.models import Bureau

from .actions import step_label
from .models import FINAL_STATUSES, Case, CaseLog, Photo, Status
from .photos import PreparedPhoto
from .scoping import user_bureau_id, user_district_id, user_district_ids
from .storage import removed_on_failure, store_photo

OPEN = frozenset(Status) - FINAL_STATUSES

# Sent inside the transaction of every transition, after the case is saved and its log entry written, with
# case, action, actor, entry: other apps (dispatch: routing, deadlines) act on the case in the same
# transaction, and an exception from a receiver undoes the whole transition.
transitioned = Signal()


class TransitionError(Exception):
    """The case is not in a state that allows this action (or changed since the client saw it)."""

    def __init__(self, message: str, case: Case):
        super().__init__(message)
        self.case = case


class InvalidAction(ValueError):
    """The action's own input is wrong (a missing reason, an unknown bureau…): field → messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(str(errors))
        self.errors = errors


@dataclass(frozen=True)
class Rule:
    sources: frozenset[str]
    target: str | None  # None: the status does not change
    roles: frozenset[str]
    scope: str  # "district", "bureau" (the case's bureau), "cells" (the inspector's cells)


RULES: dict[str, Rule] = {
    "register": Rule(frozenset({Status.REPORTED}), Status.REGISTERED,
                     frozenset({roles.OPERATOR, roles.DISPATCHER}), "district"),
    "reject": Rule(frozenset({Status.REPORTED}), Status.REJECTED,
                   frozenset({roles.OPERATOR, roles.DISPATCHER}), "district"),
    "dispatch": Rule(frozenset({Status.REGISTERED, Status.RETURNED}), Status.DISPATCHED,
                     frozenset({roles.DISPATCHER}), "district"),
    "accept": Rule(frozenset({Status.DISPATCHED}), Status.IN_PROGRESS, frozenset({roles.BUREAU_STAFF}), "bureau"),
    "return": Rule(frozenset({Status.DISPATCHED}), Status.RETURNED, frozenset({roles.BUREAU_STAFF}), "bureau"),
    "request_postponement": Rule(frozenset({Status.IN_PROGRESS}), None, frozenset({roles.BUREAU_STAFF}), "bureau"),
    "approve_postponement": Rule(frozenset({Status.IN_PROGRESS}), Status.POSTPONED,
                                 frozenset({roles.DISPATCHER}), "district"),
    "deny_postponement": Rule(frozenset({Status.IN_PROGRESS}), None, frozenset({roles.DISPATCHER}), "district"),
    "process": Rule(frozenset({Status.IN_PROGRESS, Status.POSTPONED}), Status.PROCESSED,
                    frozenset({roles.BUREAU_STAFF}), "bureau"),
    "verify_pass": Rule(frozenset({Status.PROCESSED}), Status.VERIFIED, frozenset({roles.INSPECTOR}), "cells"),
    "verify_fail": Rule(frozenset({Status.PROCESSED}), Status.IN_PROGRESS, frozenset({roles.INSPECTOR}), "cells"),
    "close": Rule(frozenset({Status.VERIFIED}), Status.CLOSED, frozenset({roles.OPERATOR, roles.DISPATCHER}),
                  "district"),
    "cancel": Rule(OPEN, Status.CANCELLED, frozenset({roles.DISPATCHER}), "district"),
    "merge": Rule(frozenset({Status.REPORTED, Status.REGISTERED}), Status.MERGED,
                  frozenset({roles.OPERATOR, roles.DISPATCHER}), "district"),
    "reopen": Rule(frozenset({Status.CLOSED}), Status.DISPATCHED, frozenset({roles.OPERATOR, roles.DISPATCHER}),
                   "district"),
}


def allowed_actions(case: Case, user: AbstractBaseUser) -> list[str]:
    """The actions this user may take on this case now (what a page offers)."""
    pending = case.postponement_until is not None
    needs = {"approve_postponement": pending, "deny_postponement": pending, "request_postponement": not pending}
    return [name for name, rule in RULES.items()
            if case.status in rule.sources and needs.get(name, True) and _permitted(rule, user, case) is None]


def ensure_permitted(action: str, case: Case, user: AbstractBaseUser) -> None:
    """PermissionDenied unless the user's role and scope allow this action on this case (whatever its state):
    asked before a request's photos are decoded, so a refused caller costs nothing."""
    reason = _permitted(RULES[action], user, case)
    if reason:
        raise PermissionDenied(reason)


def _permitted(rule: Rule, user: AbstractBaseUser, case: Case) -> str | None:
    """None if the user may act on the case under this rule, else why not."""
    if not user_roles(user) & rule.roles:
        return _("Your role may not do this.")
    if rule.scope == "district":
        district = user_district_id(user)
        if district and case.district_id not in user_district_ids(user):
            return _("This case is outside your district.")
    elif rule.scope == "bureau":
        if case.bureau_id is None or case.bureau_id != user_bureau_id(user):
            return _("This case is not assigned to your bureau.")
    elif rule.scope == "cells" and not (case.cell_id and user.inspected_cells.filter(pk=case.cell_id).exists()):
        return _("This case is not in your cells.")
    return None


def _apply(case: Case, actor: AbstractBaseUser | None, action: str, *, version: int | None = None, note: str = "",
           location: Point | None = None, photos: Sequence[tuple[str, PreparedPhoto]] = (),
           change: Callable[[Case], None] | None = None, target: str | None = None, system: bool = False) -> Case:
    rule = RULES[action]
    with removed_on_failure(), transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        reason = None if system else _permitted(rule, actor, locked)
        if reason:
            raise PermissionDenied(reason)
        if version is not None and locked.version != version:
            raise TransitionError(_("The case was changed by someone else; reload it."), locked)
        if locked.status not in rule.sources:
            raise TransitionError(
                _("A case that is %(status)s does not allow “%(action)s”.")
                % {"status": locked.get_status_display(), "action": step_label(action)}, locked)
        from_status, responsible, since = locked.status, locked.bureau_id, locked.status_since
        # The deadline this step is judged against: processing by the case's deadline, verification (核查) by
        # its stage limit (dispatch knows those); a step with no deadline is neither on time nor late.
        due = (locked.deadline if action == "process"
               else _stage_deadline(locked) if action in ("verify_pass", "verify_fail") else None)
        locked.status = target or rule.target or locked.status
        if change:
            change(locked)
        now = timezone.now()
        if action == "process":
            locked.processed_at = now  # as the database trigger writes it from the log entry, for this object
        if locked.status in FINAL_STATUSES and locked.closed_at is None:
            locked.closed_at = now
        if locked.status != from_status:
            locked.status_since = now
        locked.version += 1
        locked.save()
        entry = CaseLog.objects.create(
            case=locked, action=action, actor=actor, from_status=from_status, to_status=locked.status, note=note,
            location=location, bureau_id=locked.bureau_id or responsible, created_at=now,
            seconds_in_from_status=(now - since).total_seconds() if locked.status != from_status else None,
            deadline_met=None if due is None else now <= due)
        for kind, prepared in photos:
            store_photo(locked, prepared, kind=kind, log_entry=entry, user=actor)
        transitioned.send(sender=Case, case=locked, action=action, actor=actor, entry=entry)
    return locked


# Registered by the app that keeps stage limits (dispatch): the deadline of a case's current stage other than
# processing, or None. incidents knows no stage limits itself (they live above it).
_stage_deadline_of: Callable[[Case], datetime | None] | None = None


def set_stage_deadline(function: Callable[[Case], datetime | None]) -> None:
    global _stage_deadline_of
    _stage_deadline_of = function


def _stage_deadline(case: Case) -> datetime | None:
    return _stage_deadline_of(case) if _stage_deadline_of else None


def _required(value: str, field: str) -> str:
    if not value or not value.strip():
        raise InvalidAction({field: [_("This field is required.")]})
    return value.strip()


def register(case: Case, actor, *, note: str = "", version: int | None = None) -> Case:
    return _apply(case, actor, "register", version=version, note=note)


def reject(case: Case, actor, *, reason: str, version: int | None = None) -> Case:
    return _apply(case, actor, "reject", version=version, note=_required(reason, "reason"))


def bureau_serves(bureau: Bureau, case: Case) -> bool:
    """A city bureau serves every district; a district's bureau only its own (by code: a case keeps the district
    row of its boundary generation)."""
    if bureau.district_id is None or bureau.district_id == case.district_id:
        return True
    return case.district_id is not None and bureau.district.code == case.district.code


def dispatch(case: Case, actor, *, bureau: Bureau, note: str = "", deadline: datetime | None = None,
             version: int | None = None) -> Case:
    if bureau is None or not bureau.active:
        raise InvalidAction({"bureau": [_("Choose an active bureau.")]})
    if not bureau_serves(bureau, case):
        raise InvalidAction({"bureau": [_("%(bureau)s works in another district: choose a city bureau or one of "
                                          "%(district)s.") % {"bureau": bureau.name, "district": case.district}]})

    def assign(c: Case) -> None:
        c.bureau = bureau
        if deadline is not None:
            c.deadline = deadline

    return _apply(case, actor, "dispatch", version=version, note=note, change=assign)


def system_register(case: Case, *, note: str) -> Case:
    """Registration (立案) of a case raised by an instrument (a sensor's alarm): no person acts, the note says
    what did; routing follows as for any registration."""
    return _apply(case, None, "register", note=note, system=True)


def system_note(case: Case, *, action: str, note: str) -> CaseLog:
    """A system's entry in a case's log that changes nothing in the case (a sensor alarm's level change or end):
    it reaches the live feed as every log entry does."""
    return CaseLog.objects.create(case=case, action=action, from_status=case.status, to_status=case.status,
                                  note=note, bureau_id=case.bureau_id)


def system_dispatch(case: Case, *, bureau: Bureau, note: str) -> Case:
    """Auto-dispatch by a routing rule: no person acts, the log says which rule did."""
    return _apply(case, None, "dispatch", note=note, change=lambda c: setattr(c, "bureau", bureau), system=True)


def accept(case: Case, actor, *, note: str = "", version: int | None = None) -> Case:
    return _apply(case, actor, "accept", version=version, note=note)


def return_case(case: Case, actor, *, reason: str, version: int | None = None) -> Case:
    """退回: the bureau says the case is not its own; the command centre dispatches it again."""
    return _apply(case, actor, "return", version=version, note=_required(reason, "reason"),
                  change=lambda c: setattr(c, "bureau", None))


def request_postponement(case: Case, actor, *, until: datetime, reason: str, version: int | None = None) -> Case:
    if until is None or until <= timezone.now():
        raise InvalidAction({"until": [_("Give a time in the future.")]})
    if case.deadline and until <= case.deadline:
        raise InvalidAction({"until": [_("A postponement must end after the current deadline.")]})
    return _apply(case, actor, "request_postponement", version=version, note=_required(reason, "reason"),
                  change=lambda c: setattr(c, "postponement_until", until))


def approve_postponement(case: Case, actor, *, note: str = "", version: int | None = None) -> Case:
    if not case.postponement_until:
        raise TransitionError(_("No postponement was requested."), case)

    def extend(c: Case) -> None:
        c.deadline, c.postponement_until = c.postponement_until, None

    return _apply(case, actor, "approve_postponement", version=version, note=note, change=extend)


def deny_postponement(case: Case, actor, *, reason: str, version: int | None = None) -> Case:
    if not case.postponement_until:
        raise TransitionError(_("No postponement was requested."), case)
    return _apply(case, actor, "deny_postponement", version=version, note=_required(reason, "reason"),
                  change=lambda c: setattr(c, "postponement_until", None))


def process(case: Case, actor, *, note: str, photos: Sequence[PreparedPhoto], version: int | None = None) -> Case:
    """处置反馈: the bureau reports the fix, with at least one after-photo."""
    if not photos:
        raise InvalidAction({"photos": [_("Add at least one photo of the result.")]})
    return _apply(case, actor, "process", version=version, note=_required(note, "note"),
                  photos=[(Photo.Kind.AFTER, p) for p in photos])


def verify(case: Case, actor, *, passed: bool, note: str = "", photos: Sequence[PreparedPhoto] = (),
           location: Point | None = None, version: int | None = None) -> Case:
    """核查: the inspector checks the fix on site; a failure sends the case back to the bureau (返工)."""
    if not passed:
        _required(note, "note")

    def rework(c: Case) -> None:
        c.rework_count += 1

    return _apply(case, actor, "verify_pass" if passed else "verify_fail", version=version, note=note,
                  location=location, photos=[(Photo.Kind.VERIFY, p) for p in photos],
                  change=None if passed else rework)


def close(case: Case, actor, *, note: str = "", version: int | None = None) -> Case:
    return _apply(case, actor, "close", version=version, note=note)


def cancel(case: Case, actor, *, reason: str, version: int | None = None) -> Case:
    return _apply(case, actor, "cancel", version=version, note=_required(reason, "reason"))


def merge(duplicate: Case, actor, *, into: Case, note: str = "", version: int | None = None) -> Case:
    """Merge a duplicate into the case that stays; the survivor's history includes the duplicate's log."""
    if into.pk == duplicate.pk:
        raise InvalidAction({"into": [_("A case cannot be merged into itself.")]})
    if not into.is_open or into.merged_into_id:
        raise InvalidAction({"into": [_("Merge into an open case.")]})
    if into.category_id != duplicate.category_id:
        raise InvalidAction({"into": [_("Only cases of the same category can be merged.")]})
    return _apply(duplicate, actor, "merge", version=version, note=note or into.number,
                  change=lambda c: setattr(c, "merged_into", into))


def reopen(case: Case, actor, *, reason: str, version: int | None = None) -> Case:
    """返工 after closure (a reporter not satisfied on the callback): the work goes back to the bureau that did
    it, straight to its queue as a new dispatch with a fresh deadline (dispatch sets it), counted as rework.
    The dispatcher is not asked again: the bureau was right, its fix was not. A bureau since switched off
    cannot take it: the case goes back to registration, to be routed and dispatched anew."""
    reason = _required(reason, "reason")

    def rework(c: Case) -> None:
        c.rework_count += 1
        c.closed_at = None
        c.deadline = None
        c.processed_at = None  # the old processing report must not count as on time against the new deadline
        c.postponement_until = None
        if c.bureau_id is None or not c.bureau.active:
            c.bureau, c.status = None, Status.REGISTERED

    return _apply(case, actor, "reopen", version=version, note=reason, change=rework)


def history(case: Case):
    """The case's log with the logs of every case merged into it, in time order."""
    ids = [case.pk, *Case.objects.filter(merged_into=case).values_list("pk", flat=True)]
    return CaseLog.objects.filter(case_id__in=ids).select_related("actor", "case").prefetch_related("photos")
