"""The roles every part of CityGrid checks. Each role is a Django auth group with this stable name."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.utils.translation import gettext_lazy as _

INSPECTOR = "inspector"  # 网格员/监督员
OPERATOR = "operator"  # 受理员
DISPATCHER = "dispatcher"  # 指挥中心派遣员
BUREAU_STAFF = "bureau_staff"  # 专业部门人员, tied to one bureau
LEADER = "leader"  # 领导
ADMIN = "admin"  # 系统管理员

ROLE_LABELS = {
    INSPECTOR: _("Inspector"),
    OPERATOR: _("Call-centre operator"),
    DISPATCHER: _("Dispatcher"),
    BUREAU_STAFF: _("Bureau staff"),
    LEADER: _("Leader"),
    ADMIN: _("Administrator"),
}
ALL_ROLES = tuple(ROLE_LABELS)


def user_roles(user: AbstractBaseUser | AnonymousUser) -> frozenset[str]:
    """The role names a user holds, cached on the user object for the request."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_citygrid_roles", None)
    if cached is None:
        # Asked on nearly every request: one plain statement rather than an ORM query.
        with connection.cursor() as cur:
            cur.execute("SELECT g.name FROM auth_group g JOIN auth_user_groups ug ON ug.group_id = g.id "
                        "WHERE ug.user_id = %s", [user.pk])
            cached = remember_roles(user, [name for (name,) in cur.fetchall()])
    return cached


def remember_roles(user: AbstractBaseUser, group_names: list[str]) -> frozenset[str]:
    """Keep a user's roles on the user object for the rest of the request (token authentication reads
    them with the token)."""
    held = frozenset(group_names) & frozenset(ALL_ROLES)
    if user.is_superuser:
        held |= {ADMIN}
    user._citygrid_roles = held
    return held


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))
