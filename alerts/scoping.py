"""Which warnings a user may read and which he may issue, update or cancel — the object scope "warning" that
citygrid.policy declares for the URLs naming one.

The city's centre (a dispatcher without a district) issues for the whole city and may update or cancel any
warning; a district's centre issues within its district and changes its district's warnings only. Both read
their own and the city's warnings; leaders read as their centre does. Nobody else reads them through the staff
pages (the public reads the published ones)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from citygrid import roles
from citygrid.roles import user_roles

from .models import EarlyWarning

READERS = frozenset({roles.DISPATCHER, roles.LEADER})


def user_district_id(user: AbstractBaseUser) -> int | None:
    profile = getattr(user, "profile", None)
    return profile.district_id if profile else None


def _district_ids(user: AbstractBaseUser) -> list[int]:
    """The user's district in every boundary generation: a warning keeps the district row it was issued for."""
    return user.profile.district_ids()


def visible_warnings(user: AbstractBaseUser, qs: QuerySet | None = None) -> QuerySet:
    qs = EarlyWarning.objects.all() if qs is None else qs
    if not user.is_authenticated or not user_roles(user) & READERS:
        return qs.none()
    district = user_district_id(user)
    return qs if not district else qs.filter(Q(district_id__in=_district_ids(user)) | Q(district__isnull=True))


def may_issue(user: AbstractBaseUser) -> bool:
    return user.is_authenticated and roles.DISPATCHER in user_roles(user)


def may_change(user: AbstractBaseUser, warning: EarlyWarning) -> bool:
    """Update or cancel: the city's centre any warning, a district's centre its district's."""
    if not may_issue(user):
        return False
    district = user_district_id(user)
    return not district or warning.district_id in _district_ids(user)


def _visible(user: AbstractBaseUser, pk: int, **_ignored) -> EarlyWarning | None:
    return visible_warnings(user).select_related("type", "district").filter(pk=pk).first()


def register_scopes() -> None:
    from citygrid import scopes

    scopes.register("warning", visible=_visible, exists=lambda pk, **_: EarlyWarning.objects.filter(pk=pk).exists())
