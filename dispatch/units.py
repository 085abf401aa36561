"""Response units (处置力量) as the pages and the API see them: who may create them where, their duty, and what a
crew's phone shows — the unit and its open assignment with the case it was sent to."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from citygrid import roles
from citygrid.audit import record
from citygrid.roles import user_roles
from grids.models import Area, Bureau, Level
from incidents.lifecycle import InvalidAction
from incidents.models import Urgency
from incidents.scoping import user_bureau_id, user_district_id

from .models import ResponseUnit, UnitAssignment
from .scoping import crew_unit_id

STEPS = ("acknowledge", "arrive", "clear")


def creatable_bureaus(user: AbstractBaseUser) -> QuerySet:
    """The bureaus a user may add units to: the city's centre any, a district's centre its district's, a bureau's
    staff their own; a crew's phone account none."""
    held, active = user_roles(user), Bureau.objects.filter(active=True)
    if roles.DISPATCHER in held:
        district = user_district_id(user)
        return active.filter(district_id=district) if district else active
    if roles.BUREAU_STAFF in held and user_bureau_id(user) and not crew_unit_id(user):
        return active.filter(pk=user_bureau_id(user))
    return active.none()


def create_unit(actor: AbstractBaseUser, *, code: str, name: str, bureau: str = "",
                kind: str = ResponseUnit.Kind.PATROL, district: str = "", crew_size: int = 2,
                on_duty: bool = True) -> ResponseUnit:
    """A new unit of a bureau the actor may add units to — by default his own — (InvalidAction with field messages
    otherwise)."""
    allowed = creatable_bureaus(actor)
    home = allowed.filter(code=bureau).first() if bureau else allowed.filter(pk=user_bureau_id(actor)).first()
    if home is None:
        raise InvalidAction({"bureau": [_("Not a bureau you may add units to.")]})
    area = None
    if district:
        area = Area.objects.current().filter(code=district, level=Level.DISTRICT).first()
        if area is None:
            raise InvalidAction({"district": [_("No such district.")]})
    unit = ResponseUnit(code=code, name=name, kind=kind, bureau=home, district=area, crew_size=crew_size,
                        state=ResponseUnit.State.AVAILABLE if on_duty else ResponseUnit.State.OFFLINE)
    if unit.district_id is None and home.district_id:
        unit.district_id = home.district_id
    try:
        unit.full_clean()
    except ValidationError as exc:
        raise InvalidAction({k: [str(m) for m in v] for k, v in exc.message_dict.items()}) from exc
    unit.save()
    record("unit_created", user=actor, target=f"unit: {unit.code}", detail=f"{home.code} {unit.name}")
    return unit


def set_duty(unit: ResponseUnit, on_duty: bool, actor: AbstractBaseUser) -> ResponseUnit:
    """上岗 / 下岗: an available unit goes off duty and back; a unit on a task stays on it until cleared."""
    with transaction.atomic():
        locked = ResponseUnit.objects.select_for_update().get(pk=unit.pk)
        if locked.state == ResponseUnit.State.BUSY:
            if not on_duty:
                raise InvalidAction({"on_duty": [_("Clear the current task before going off duty.")]})
            return locked
        locked.state = ResponseUnit.State.AVAILABLE if on_duty else ResponseUnit.State.OFFLINE
        locked.save(update_fields=["state"])
        record("unit_duty", user=actor, target=f"unit: {locked.code}", detail="on" if on_duty else "off")
    return locked


def open_assignment(unit: ResponseUnit) -> UnitAssignment | None:
    return (UnitAssignment.objects.filter(unit=unit, cleared_at__isnull=True)
            .select_related("case__category", "case__district", "case__street", "case__community").first())


def summary(unit: ResponseUnit, *, with_assignment: bool = False) -> dict:
    data = {"code": unit.code, "name": unit.name, "kind": unit.kind, "kind_label": unit.get_kind_display(),
            "bureau": unit.bureau.code, "bureau_name": unit.bureau.name,
            "district": unit.district.code if unit.district_id else None,
            "district_name": unit.district.name if unit.district_id else "",
            "crew_size": unit.crew_size, "state": unit.state, "state_label": unit.get_state_display(),
            "on_duty": unit.on_duty, "lon": unit.position.x if unit.position else None,
            "lat": unit.position.y if unit.position else None,
            "position_at": timezone.localtime(unit.position_at) if unit.position_at else None}
    if with_assignment:
        assignment = open_assignment(unit)
        data["assignment"] = assignment_summary(assignment) if assignment else None
    return data


def assignment_summary(a: UnitAssignment) -> dict:
    """What the crew needs to go: the case's number, what and where, and the next step of the command chain."""
    case = a.case
    done = {"acknowledge": a.acknowledged_at, "arrive": a.arrived_at, "clear": a.cleared_at}
    local = {k: timezone.localtime(v) if v else None for k, v in
             (("dispatched_at", a.dispatched_at), ("acknowledged_at", a.acknowledged_at),
              ("arrived_at", a.arrived_at), ("cleared_at", a.cleared_at))}
    return {"id": a.pk, **local,
            "next_step": next((s for s in STEPS if done[s] is None), None),
            "case": {"number": case.number, "category_name": case.category.name_zh, "urgency": case.urgency,
                     "urgency_label": Urgency(case.urgency).label, "description": case.description,
                     "address": case.address,
                     "place": " ".join(x.name for x in (case.district, case.street, case.community) if x),
                     "lon": case.location.x, "lat": case.location.y}}

