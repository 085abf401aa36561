"""The dispatchers' live feed: every report, transition, routing, warning, escalation and unit step is a
CaseLog entry, so the feed is the log read in id order, scoped to what the user may see. A client keeps
the last id it saw and asks for what follows (Server-Sent Events `Last-Event-ID`, or `?after=`): nothing
is missed across a dropped connection.

Ids are handed out when a transaction inserts, not when it commits, so a short transaction may commit
after a later id was read; each poll therefore also re-reads the last few seconds, and events carry their
id so that a client drops what it already has.

A bureau's staff also follow their bureau's own steps (a return takes the case out of their sight, and their
workbench still hears of it). A crew's phone account also follows the cases its unit is sent to, whoever's they
are (a dispatcher sends the nearest unit, of whichever bureau): that is how its page learns of a new assignment at
once."""

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from citygrid import roles
from citygrid.roles import user_roles
from incidents.models import Case, CaseLog
from incidents.scoping import user_bureau_id, visible_cases

from .emergency import is_emergency
from .scoping import crew_unit_id

REREAD = timedelta(seconds=5)


def events_after(user: AbstractBaseUser, after: int, limit: int = 200) -> list[dict]:
    """Events after the id a client last saw; a client with none (after=0) gets the latest `limit`."""
    followed = _followed(user)
    if after <= 0:
        latest = (CaseLog.objects.filter(followed)
                  .select_related("case__category", "case__district", "case__bureau").order_by("-id")[:limit])
        return [_event(e) for e in reversed(latest)]
    recent = timezone.now() - REREAD
    entries = (CaseLog.objects.filter(followed).filter(id__gt=after)
               | CaseLog.objects.filter(followed).filter(created_at__gte=recent))
    entries = entries.select_related("case__category", "case__district", "case__bureau").order_by("id")[:limit]
    return [_event(e) for e in entries]


def _followed(user: AbstractBaseUser) -> Q:
    """The log entries a user follows: those of the cases he may see; a bureau's staff also their bureau's own steps
    (a return takes the case out of their sight, and the workbench must still hear of it); a crew's phone also the
    cases its unit is sent to."""
    followed = Q(case__in=visible_cases(user).values("pk"))
    bureau = user_bureau_id(user)
    if bureau and roles.BUREAU_STAFF in user_roles(user):
        followed |= Q(bureau_id=bureau)
    crew = crew_unit_id(user)
    if crew is not None:
        followed |= Q(case__in=Case.objects.filter(unit_assignments__unit_id=crew).values("pk"))
    return followed


def _event(entry: CaseLog) -> dict:
    case = entry.case
    return {"id": entry.pk, "action": entry.action, "at": entry.created_at.isoformat(), "note": entry.note,
            "from_status": entry.from_status, "to_status": entry.to_status,
            "case": {"number": case.number, "status": case.status, "category": case.category.code,
                     "category_name": case.category.name_zh, "urgency": case.urgency,
                     "district": case.district.code, "bureau": case.bureau.code if case.bureau else None,
                     "lon": case.location.x, "lat": case.location.y, "sla": case.sla_light(),
                     "emergency": is_emergency(case)}}
