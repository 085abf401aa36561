"""Which response units and unit assignments a user may command, and which areas' figures a user may read:
the object scopes citygrid.policy declares for the dispatch URLs (registered in `register_scopes`).

A district's command centre commands the units of its district's bureaus, the city's centre every unit; a
bureau's staff command their own bureau's units; a crew's phone account (a bureau-staff account tied to a unit,
`ResponseUnit.account`) commands its own unit only."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from citygrid import roles
from citygrid.roles import user_roles
from citygrid.scopes import any_of
from grids.models import Area, Cell, Level
from incidents.scoping import user_bureau_id, user_district_id, user_district_ids, visible_cases

from .models import ResponseUnit, UnitAssignment


def crew_unit_id(user: AbstractBaseUser) -> int | None:
    """The unit whose crew's phone this account is, if it is one (cached on the user for the request)."""
    if not user.is_authenticated:
        return None
    if not hasattr(user, "_citygrid_crew_unit"):
        user._citygrid_crew_unit = ResponseUnit.objects.filter(account=user).values_list("pk", flat=True).first()
    return user._citygrid_crew_unit


def commanded_units(user: AbstractBaseUser, qs: QuerySet | None = None) -> QuerySet:
    """The response units a user may send, move and step."""
    qs = ResponseUnit.objects.all() if qs is None else qs
    held = user_roles(user)
    conditions = []
    if roles.DISPATCHER in held:
        district = user_district_id(user)
        conditions.append(Q(bureau__district_id=district) if district else Q())
    if roles.BUREAU_STAFF in held and user_bureau_id(user):
        crew = crew_unit_id(user)
        conditions.append(Q(pk=crew) if crew else Q(bureau_id=user_bureau_id(user)))
    return any_of(qs, conditions)


def commanded_bureau_ids(user: AbstractBaseUser) -> list[int] | None:
    """The bureaus whose units a user commands; None for all of them (the city's centre)."""
    if roles.DISPATCHER in user_roles(user) and not user_district_id(user):
        return None
    return list(commanded_units(user).values_list("bureau_id", flat=True).distinct())


def _visible_unit(user: AbstractBaseUser, code: str, **_ignored) -> ResponseUnit | None:
    return commanded_units(user).select_related("bureau").filter(code=code).first()


def _visible_assignment(user: AbstractBaseUser, pk: int, **_ignored) -> UnitAssignment | None:
    """A dispatcher steps assignments of the cases he sees; bureau staff those of their bureau's units."""
    held = user_roles(user)
    conditions = []
    if roles.DISPATCHER in held:
        conditions.append(Q(case__in=visible_cases(user).values("pk")))
    if roles.BUREAU_STAFF in held and user_bureau_id(user):
        crew = crew_unit_id(user)
        conditions.append(Q(unit_id=crew) if crew else Q(unit__bureau_id=user_bureau_id(user)))
    return any_of(UnitAssignment.objects.select_related("unit", "case"), conditions).filter(pk=pk).first()


def _area_figures(user: AbstractBaseUser, code: str, **_ignored) -> Cell | Area | None:
    """A cell or community whose figures the dashboard shows: within the user's district, if he has one."""
    district = user_district_id(user)
    # A code of any boundary generation: the dashboard's hot spots show each case in the cell of its time.
    cell = Cell.objects.filter(code=code).order_by("-is_current", "-generation_low").first()
    if cell is not None:
        return cell if not district or cell.district_id in user_district_ids(user) else None
    community = (Area.objects.filter(code=code, level=Level.COMMUNITY).select_related("parent")
                 .order_by("-is_current", "-generation_low").first())
    if community is not None and (not district or community.parent.parent_id in user_district_ids(user)):
        return community
    return None


def register_scopes() -> None:
    from citygrid import scopes

    scopes.register("unit", visible=_visible_unit,
                    exists=lambda code, **_: ResponseUnit.objects.filter(code=code).exists())
    scopes.register("assignment", visible=_visible_assignment,
                    exists=lambda pk, **_: UnitAssignment.objects.filter(pk=pk).exists())
    register_bulletin_scope()
    scopes.register("area-figures", visible=_area_figures,
                    exists=lambda code, **_: Cell.objects.filter(code=code).exists()
                    or Area.objects.filter(code=code, level=Level.COMMUNITY).exists())


def visible_bulletins(user: AbstractBaseUser) -> QuerySet:
    """Issued bulletins a user may read: a district's centre its district's, the city's leaders and centre all."""
    from .models import Bulletin

    if not user_roles(user) & {roles.LEADER, roles.DISPATCHER}:
        return Bulletin.objects.none()
    district = user_district_id(user)
    return Bulletin.objects.filter(district_id__in=user_district_ids(user)) if district else Bulletin.objects.all()


def _visible_bulletin(user: AbstractBaseUser, pk: int, **_ignored):
    return visible_bulletins(user).select_related("district").filter(pk=pk).first()


def register_bulletin_scope() -> None:
    from citygrid import scopes

    from .models import Bulletin

    scopes.register("bulletin", visible=_visible_bulletin,
                    exists=lambda pk, **_: Bulletin.objects.filter(pk=pk).exists())
