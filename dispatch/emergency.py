"""Emergency command (应急指挥): emergency cases, the nearest available response units by PostGIS KNN
(stale positions excluded), sending units and the times of their response, all in the case's log."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.gis.geos import Point
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from citygrid import roles
from citygrid.audit import record
from citygrid.roles import has_role
from incidents.lifecycle import InvalidAction
from incidents.models import Case, CaseLog, Urgency

from .models import ResponseUnit, UnitAssignment

EMERGENCY_CLASS = "SJ04"  # 突发事件


def is_emergency(case: Case) -> bool:
    """Emergency classes, or a case flagged emergency/urgent, skip the normal queue."""
    return case.category.code.startswith(EMERGENCY_CLASS) or case.urgency in (Urgency.EMERGENCY, Urgency.URGENT)


_NEAREST = """
SELECT id, ST_DistanceSphere(position, ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326)) AS metres
FROM dispatch_responseunit
WHERE state = 'available' AND position IS NOT NULL AND position_at >= %(fresh)s {bureau}
ORDER BY position <-> ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326)
LIMIT %(limit)s
"""


def nearest_units(point: Point, *, limit: int = 5, bureau_ids: list[int] | None = None,
                  now: datetime | None = None) -> list[tuple[ResponseUnit, float]]:
    """Available units whose position is fresh (UNIT_POSITION_MAX_AGE_S), nearest first, with metres; only
    units of `bureau_ids` when given (an empty list: none).

    The index orders by planar distance in degrees, which at a city's scale picks the same units as
    metres; the distance reported is on the sphere."""
    now = now or timezone.now()
    fresh = now - timedelta(seconds=settings.UNIT_POSITION_MAX_AGE_S)
    sql = _NEAREST.format(bureau="AND bureau_id = ANY(%(bureaus)s)" if bureau_ids is not None else "")
    with connection.cursor() as cur:
        cur.execute(sql, {"x": point.x, "y": point.y, "fresh": fresh, "limit": limit, "bureaus": bureau_ids or []})
        rows = cur.fetchall()
    units = ResponseUnit.objects.in_bulk([r[0] for r in rows])
    return [(units[pk], metres) for pk, metres in rows]


def report_position(unit: ResponseUnit, lon: float, lat: float, at: datetime | None = None) -> None:
    """A unit's position (from its crew's phone, or a dispatcher on the radio), recorded in the audit trail
    with who reported it."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidAction({"position": [_("Not a WGS84 longitude/latitude.")]})
    at = at or timezone.now()
    with transaction.atomic():
        # Positions arrive out of order from phones on bad networks: an older fix never overwrites a newer one.
        ResponseUnit.objects.filter(pk=unit.pk).exclude(position_at__gt=at).update(
            position=Point(lon, lat, srid=4326), position_at=at)
        record("unit_position", target=f"unit: {unit.code}", detail=f"{lon:.6f},{lat:.6f} at {at.isoformat()}")


def _log(case: Case, actor, action: str, note: str) -> None:
    CaseLog.objects.create(case=case, action=action, actor=actor, from_status=case.status, to_status=case.status,
                           note=note, bureau_id=case.bureau_id)


def send_units(case: Case, units: list[ResponseUnit], actor: AbstractBaseUser) -> list[UnitAssignment]:
    """Send available units to a case (one click from the console); each becomes busy until cleared."""
    if not has_role(actor, roles.DISPATCHER):
        raise PermissionDenied(_("Your role may not do this."))
    if not units:
        raise InvalidAction({"units": [_("Choose at least one unit.")]})
    with transaction.atomic():
        locked = list(ResponseUnit.objects.select_for_update().filter(pk__in=[u.pk for u in units]))
        busy = [u.code for u in locked if u.state != ResponseUnit.State.AVAILABLE]
        if busy:
            raise InvalidAction({"units": [_("Not available: %(units)s.") % {"units": ", ".join(busy)}]})
        assignments = [UnitAssignment.objects.create(case=case, unit=u, dispatched_by=actor) for u in locked]
        ResponseUnit.objects.filter(pk__in=[u.pk for u in locked]).update(state=ResponseUnit.State.BUSY)
        _log(case, actor, "units_sent", "、".join(f"{u.code} {u.name}" for u in locked))
        record("units_sent", user=actor, target=f"case: {case.number}", detail=" ".join(u.code for u in locked))
    return assignments


_STEPS = {"acknowledge": ("acknowledged_at", None), "arrive": ("arrived_at", "acknowledged_at"),
          "clear": ("cleared_at", "arrived_at")}


def record_step(assignment: UnitAssignment, step: str, actor: AbstractBaseUser) -> UnitAssignment:
    """A unit acknowledges, arrives or clears; each once and in that order. Clearing frees the unit."""
    field, before = _STEPS[step]
    allowed = has_role(actor, roles.DISPATCHER) or (
        has_role(actor, roles.BUREAU_STAFF) and getattr(getattr(actor, "profile", None), "bureau_id", None)
        == assignment.unit.bureau_id)
    if not allowed:
        raise PermissionDenied(_("Your role may not do this."))
    with transaction.atomic():
        locked = UnitAssignment.objects.select_for_update().select_related("unit", "case").get(pk=assignment.pk)
        if getattr(locked, field) is not None or (before and getattr(locked, before) is None):
            raise InvalidAction({"step": [_("Steps go acknowledge → arrive → clear, each once.")]})
        setattr(locked, field, timezone.now())
        locked.save(update_fields=[field])
        if step == "clear":
            ResponseUnit.objects.filter(pk=locked.unit_id).update(state=ResponseUnit.State.AVAILABLE)
        _log(locked.case, actor, f"unit_{step}", f"{locked.unit.code} {locked.unit.name}")
        record(f"unit_{step}", user=actor, target=f"case: {locked.case.number}", detail=locked.unit.code)
    return locked
