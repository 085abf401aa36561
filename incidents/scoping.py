"""Who may see and act on which cases, in the two-level city: a district's staff work their district, the
city's staff everything; a bureau sees its own cases; an inspector his cells and his own reports."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from citygrid import roles
from citygrid.roles import user_roles
from citygrid.scopes import any_of

from .models import Case


def _profile(user):
    return getattr(user, "profile", None)


def user_district_id(user: AbstractBaseUser) -> int | None:
    profile = _profile(user)
    return profile.district_id if profile else None


def user_district_ids(user: AbstractBaseUser) -> list[int]:
    """The user's district as every boundary generation has had it ([] for the city's staff): a case keeps the
    district row of its time, and stays the district's after its boundary moves."""
    profile = _profile(user)
    return profile.district_ids() if profile else []


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
        conditions.append(Q(district_id__in=user_district_ids(user)))
    if roles.BUREAU_STAFF in held and user_bureau_id(user):
        conditions.append(Q(bureau_id=user_bureau_id(user)))
    if roles.INSPECTOR in held:
        conditions.append(Q(pk__in=Case.objects.filter(cell__inspectors=user).values("pk")) | Q(reporter=user))
    return any_of(qs, conditions)


def sees_contact_details(user: AbstractBaseUser) -> bool:
    """Reporters' phone and e-mail: only the roles that call reporters back see them unmasked."""
    return bool(user_roles(user) & {roles.OPERATOR, roles.DISPATCHER})


def _visible_case(user: AbstractBaseUser, number: str, **_ignored) -> Case | None:
    return visible_cases(user).filter(number=number).first()


def _visible_photo(user: AbstractBaseUser, pk: int, **_ignored):
    from .models import Photo

    return Photo.objects.select_related("case").filter(pk=pk, case__in=visible_cases(user).values("pk")).first()


def component_cases(component, user: AbstractBaseUser) -> list[dict]:
    """The cases about a census component this user may see, newest first (its detail lists them)."""
    qs = visible_cases(user, Case.objects.filter(component=component)).select_related("category")
    return [{"number": c.number, "status": c.status, "status_label": c.get_status_display(),
             "category_name": c.category.name_zh, "created_at": c.created_at}
            for c in qs.order_by("-created_at")[:50]]


def register_scopes() -> None:
    """The object scopes citygrid.policy declares for case URLs."""
    from assets import hooks
    from citygrid import scopes

    from .models import Photo

    hooks.register_case_lister(component_cases)
    scopes.register("case", visible=_visible_case,
                    exists=lambda number, **_: Case.objects.filter(number=number).exists())
    scopes.register("photo", visible=_visible_photo, exists=lambda pk, **_: Photo.objects.filter(pk=pk).exists())
