"""Who may see and act on which cases, in the two-level city: a district's staff work their district, the
city's staff everything; a bureau sees its own cases; an inspector his cells and his own reports."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from citygrid import roles
from citygrid.roles import user_roles

from .models import Case


def _profile(user):
    return getattr(user, "profile", None)


def user_district_id(user: AbstractBaseUser) -> int | None:
    profile = _profile(user)
    return profile.district_id if profile else None


def user_bureau_id(user: AbstractBaseUser) -> int | None:
    profile = _profile(user)
    return profile.bureau_id if profile else None


def visible_cases(user: AbstractBaseUser, qs: QuerySet | None = None) -> QuerySet:
    """The cases a user may see."""
    qs = Case.objects.all() if qs is None else qs
    held = user_roles(user)
    district = user_district_id(user)
    if held & {roles.OPERATOR, roles.DISPATCHER, roles.LEADER} and not district:
        return qs  # the city's centre sees everything
    conditions = []
    if held & {roles.OPERATOR, roles.DISPATCHER, roles.LEADER}:
        conditions.append(Q(district_id=district))
    if roles.BUREAU_STAFF in held and user_bureau_id(user):
        conditions.append(Q(bureau_id=user_bureau_id(user)))
    if roles.INSPECTOR in held:
        conditions.append(Q(pk__in=Case.objects.filter(cell__inspectors=user).values("pk")) | Q(reporter=user))
    if not conditions:
        return qs.none()
    query = conditions[0]
    for condition in conditions[1:]:
        query |= condition
    return qs.filter(query)


def can_see(user: AbstractBaseUser, case: Case) -> bool:
    return visible_cases(user, Case.objects.filter(pk=case.pk)).exists()


def sees_contact_details(user: AbstractBaseUser) -> bool:
    """Reporters' phone and e-mail: only the roles that call reporters back see them unmasked."""
    return bool(user_roles(user) & {roles.OPERATOR, roles.DISPATCHER})
