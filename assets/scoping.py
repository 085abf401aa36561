"""Which components a user may see: the city's centre all of them; a district's staff their district's; a
bureau its own (the bureau in charge); an inspector those in his cells.

Which pipes: the city's centre every network; a district's staff the segments and points in their district; a
bureau the networks it is in charge of. Nobody else (the depth and route of a gas main is not every user's)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from citygrid import roles
from citygrid.roles import user_roles
from citygrid.scopes import any_of

from .models import Component, PipePoint, PipeSegment

CENTRE = frozenset({roles.OPERATOR, roles.DISPATCHER, roles.LEADER})


def _profile(user):
    return getattr(user, "profile", None)


def visible_components(user: AbstractBaseUser, qs: QuerySet | None = None) -> QuerySet:
    qs = Component.objects.all() if qs is None else qs
    held = user_roles(user)
    profile = _profile(user)
    district = profile.district_id if profile else None
    bureau = profile.bureau_id if profile else None
    if held & CENTRE and not district:
        return qs
    conditions = []
    if held & CENTRE:
        conditions.append(Q(district_id=district))
    if roles.BUREAU_STAFF in held and bureau:
        conditions.append(Q(bureau_id=bureau))
    if roles.INSPECTOR in held:
        conditions.append(Q(cell__in=user.inspected_cells.values("pk")))
    return any_of(qs, conditions)


def _visible_component(user: AbstractBaseUser, code: str, **_ignored) -> Component | None:
    return visible_components(user).filter(code=code).first()


def register_scopes() -> None:
    from citygrid import scopes

    scopes.register("component", visible=_visible_component,
                    exists=lambda code, **_: Component.objects.filter(code=code).exists())
    scopes.register("segment", visible=_visible_segment,
                    exists=lambda code, **_: PipeSegment.objects.filter(code=code).exists())


def _pipe_conditions(user: AbstractBaseUser) -> list[Q] | None:
    """None: every pipe; otherwise the conditions one of which a segment or point must meet (none: nothing)."""
    from grids.models import Area

    held = user_roles(user)
    profile = _profile(user)
    district = profile.district_id if profile else None
    bureau = profile.bureau_id if profile else None
    if held & CENTRE and not district:
        return None
    conditions = []
    if held & CENTRE:
        conditions.append(Q(geom__intersects=Area.objects.filter(pk=district).values("geom")))
    if roles.BUREAU_STAFF in held and bureau:
        conditions.append(Q(network__bureau_id=bureau))
    return conditions


def visible_segments(user: AbstractBaseUser, qs: QuerySet | None = None) -> QuerySet:
    qs = PipeSegment.objects.all() if qs is None else qs
    conditions = _pipe_conditions(user)
    return qs if conditions is None else any_of(qs, conditions)


def visible_points(user: AbstractBaseUser, qs: QuerySet | None = None) -> QuerySet:
    qs = PipePoint.objects.all() if qs is None else qs
    conditions = _pipe_conditions(user)
    return qs if conditions is None else any_of(qs, conditions)


def _visible_segment(user: AbstractBaseUser, code: str, **_ignored) -> PipeSegment | None:
    return visible_segments(user).select_related("network").filter(code=code).first()
