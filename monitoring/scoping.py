"""Who sees which sensors: the city's centre every one, a district's staff those in their district, a bureau's
staff those their bureau owns (as cases are scoped in incidents.scoping)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from citygrid import roles
from citygrid.roles import user_roles
from citygrid.scopes import any_of
from incidents.scoping import user_bureau_id, user_district_id

from .models import Sensor

CENTRE_ROLES = frozenset({roles.OPERATOR, roles.DISPATCHER, roles.LEADER})


def visible_sensors(user: AbstractBaseUser, qs: QuerySet | None = None) -> QuerySet:
    qs = Sensor.objects.all() if qs is None else qs
    held = user_roles(user)
    district = user_district_id(user)
    if held & CENTRE_ROLES and not district:
        return qs
    conditions = []
    if held & CENTRE_ROLES:
        conditions.append(Q(district_id=district))
    if roles.BUREAU_STAFF in held and user_bureau_id(user):
        conditions.append(Q(owner_id=user_bureau_id(user)))
    return any_of(qs, conditions)


def _visible_sensor(user: AbstractBaseUser, code: str, **_ignored) -> Sensor | None:
    return visible_sensors(user).select_related("kind", "owner", "cell", "district").filter(code=code).first()


def register_scopes() -> None:
    from citygrid import scopes

    scopes.register("sensor", visible=_visible_sensor,
                    exists=lambda code, **_: Sensor.objects.filter(code=code).exists())
