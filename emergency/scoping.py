"""Who sees which incidents, tasks and resources (the object scopes citygrid.policy declares for emergency URLs).

An incident is visible to the city's centre (dispatchers, operators, leaders without a district), to the centres
of the districts its area touches, to the members of its headquarters (its people, and the staff of its member
bureaus), to the staff of a bureau that holds one of its tasks and to those of the bureaus its active plan
notifies (who follow it and command nothing). Tasks: the centre of the incident, the
bureau that holds it; a crew's phone only its own unit's."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from citygrid import roles
from citygrid.roles import user_roles
from citygrid.scopes import any_of
from dispatch.scoping import crew_unit_id
from incidents.scoping import user_bureau_id, user_district_id, user_district_ids

from .models import Incident, IncidentTask, Resource

CENTRE_ROLES = frozenset({roles.OPERATOR, roles.DISPATCHER, roles.LEADER})


def is_city_centre(user: AbstractBaseUser) -> bool:
    return bool(user_roles(user) & CENTRE_ROLES) and not user_district_id(user)


def visible_incidents(user: AbstractBaseUser, qs: QuerySet | None = None) -> QuerySet:
    qs = Incident.objects.all() if qs is None else qs
    if not user.is_authenticated:
        return qs.none()
    held = user_roles(user)
    if is_city_centre(user):
        return qs
    conditions = []
    if held & CENTRE_ROLES:
        conditions.append(Q(pk__in=Incident.districts.through.objects.filter(
            area_id__in=user_district_ids(user)).values("incident_id")))
    if held & (CENTRE_ROLES | {roles.BUREAU_STAFF}):
        conditions.append(Q(headquarters__people=user))
    bureau = user_bureau_id(user)
    if roles.BUREAU_STAFF in held and bureau:
        conditions.append(Q(headquarters__bureaus=bureau))
        conditions.append(Q(pk__in=IncidentTask.objects.filter(bureau_id=bureau).values("incident_id")))
        conditions.append(Q(plan__notify_bureaus=bureau))  # the active plan tells them: they follow it read-only
    return any_of(qs, conditions).distinct()


def visible_tasks(user: AbstractBaseUser, qs: QuerySet | None = None) -> QuerySet:
    """Tasks a user may see: every task of the incidents his centre or headquarters sees; a bureau its own; a
    crew's phone its unit's."""
    qs = IncidentTask.objects.all() if qs is None else qs
    held = user_roles(user)
    conditions = []
    if held & CENTRE_ROLES:
        conditions.append(Q(incident__in=visible_incidents(user).values("pk")))
    if roles.BUREAU_STAFF in held and user_bureau_id(user):
        crew = crew_unit_id(user)
        conditions.append(Q(unit_id=crew) if crew else Q(bureau_id=user_bureau_id(user)))
    return any_of(qs, conditions)


def visible_resources(user: AbstractBaseUser, qs: QuerySet | None = None) -> QuerySet:
    """Resources are the city's, shown to everyone who works incidents (they are public facilities and teams);
    contacts are masked for nobody among these roles."""
    return (Resource.objects.all() if qs is None else qs).filter(active=True)


def _visible_incident(user: AbstractBaseUser, number: str, **_ignored) -> Incident | None:
    return visible_incidents(user).filter(number=number).first()


def _visible_task(user: AbstractBaseUser, pk: int, **_ignored) -> IncidentTask | None:
    return visible_tasks(user).select_related("incident", "bureau", "unit").filter(pk=pk).first()


def register_scopes() -> None:
    from citygrid import scopes

    scopes.register("incident", visible=_visible_incident,
                    exists=lambda number, **_: Incident.objects.filter(number=number).exists())
    scopes.register("incident-task", visible=_visible_task,
                    exists=lambda pk, **_: IncidentTask.objects.filter(pk=pk).exists())
