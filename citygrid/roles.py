"""The roles every part of CityGrid checks. Each role is a Django auth group with this stable name."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.utils.translation import gettext_lazy as _

INSPECTOR = "inspector"  # 网格员/监督员
OPERATOR = "operator"  # 受理员
DISPATCHER = "dispatcher"  # 指挥中心派遣员
BUREAU_STAFF = "bureau_staff"  # 专业部门人员, tied to one bureau
LEADER = "leader"  # 领导
ADMIN = "admin"  # 系统管理员: configuration and users' details, not their roles, not the audit trail
SECADMIN = "secadmin"  # 安全管理员: roles, tokens, lockouts, second factors; no business data
AUDITOR = "auditor"  # 审计管理员: reads and exports the audit trail, nothing else

ROLE_LABELS = {
    INSPECTOR: _("Inspector"),
    OPERATOR: _("Call-centre operator"),
    DISPATCHER: _("Dispatcher"),
    BUREAU_STAFF: _("Bureau staff"),
    LEADER: _("Leader"),
    ADMIN: _("Administrator"),
    SECADMIN: _("Security administrator"),
    AUDITOR: _("Auditor"),
}
ALL_ROLES = tuple(ROLE_LABELS)
# The roles that work the city's cases; the security administrator and the auditor are not among them.
OPERATIONAL_ROLES = (INSPECTOR, OPERATOR, DISPATCHER, BUREAU_STAFF, LEADER, ADMIN)
# Separation of duties (三权分立): nobody holds two of these.
SEPARATED_ROLES = frozenset({ADMIN, SECADMIN, AUDITOR})

# What each administrative role may do in the admin site, as Django permissions "app_label.codename" or
# "app_label.*" (every permission of an app). Synchronised into the groups after every migrate. Cases,
# their photos and log, and the reporters' contact details are no administrator's: they are worked through
# the lifecycle's pages and API by the roles the policy names.
_CATALOGUE = tuple(f"incidents.{verb}_{model}" for model in ("category", "timelimit", "publicationrule")
                   for verb in ("add", "change", "delete", "view"))
# dispatch.* is routing, the calendar, response units (their crews' phone accounts too), unit assignments (read-only
# in the admin whatever the permission), evaluation weights and stage time limits.
# The sensor registry (lifeline monitoring) is the system administrator's; what the alarm engine and the ingest
# record he reads; gateways carry keys, so they are the security administrator's (keys come from a command).
_SENSORS = (*(f"monitoring.{verb}_{model}" for model in ("sensorkind", "sensor")
              for verb in ("add", "change", "delete", "view")),
            "monitoring.view_alarmepisode", "monitoring.view_silence", "monitoring.view_rejection")
# Emergency command's data (event types, headquarters, plans and their tasks, resources) is the administrator's;
# incidents and their log, tasks and mobilisations are worked through the pages, not the admin.
_EMERGENCY = tuple(f"emergency.{verb}_{model}" for model in ("eventtype", "headquarters", "plan", "plantask",
                                                              "resource", "stockitem")
                   for verb in ("add", "change", "delete", "view"))
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    ADMIN: ("grids.*", "assets.*", "dispatch.*", *_CATALOGUE, *_SENSORS, *_EMERGENCY, "citygrid.add_staffprofile",
            "citygrid.change_staffprofile", "citygrid.view_staffprofile", "auth.add_user", "auth.change_user",
            "auth.view_user"),
    SECADMIN: ("auth.view_user", "auth.change_user", "auth.view_group", "citygrid.view_staffprofile",
               "citygrid.change_staffprofile", "citygrid.add_apitoken", "citygrid.change_apitoken",
               "citygrid.view_apitoken", "incidents.add_open311client", "incidents.change_open311client",
               "incidents.view_open311client", "monitoring.view_gateway", "monitoring.change_gateway",
               "axes.view_accessattempt", "axes.delete_accessattempt",
               "axes.view_accesslog", "axes.view_accessfailurelog", "otp_totp.view_totpdevice",
               "otp_totp.delete_totpdevice", "otp_static.view_staticdevice", "otp_static.delete_staticdevice"),
    AUDITOR: ("citygrid.view_auditevent", "axes.view_accessattempt", "axes.view_accesslog",
              "axes.view_accessfailurelog"),
}

# Who may change which fields of a person's account (User and StaffProfile) in the admin site; every other
# field is read-only to them. "password" is the set-password form. The system administrator keeps people's
# details and creates accounts (without a usable password); the security administrator decides who may do
# what — roles, scope (district, bureau), whether the account is active, its initial password (to be
# changed at the first login). Nobody changes these on their own account, and accounts that hold one of the
# three separated roles are changed only by a superuser (break-glass, from the server's shell), so none of
# the three can take over, lock out or silence another.
ACCOUNT_FIELDS: dict[str, frozenset[str]] = {
    ADMIN: frozenset({"username", "first_name", "last_name", "email", "phone"}),
    SECADMIN: frozenset({"is_active", "is_staff", "groups", "district", "bureau", "must_change_password",
                         "password"}),
}
OWN_ACCOUNT_FIELDS = frozenset({"first_name", "last_name", "email", "phone"})


def account_fields(actor: AbstractBaseUser, target: AbstractBaseUser | None) -> frozenset[str]:
    """The account fields `actor` may change on `target` (None: a new account) in the admin site."""
    if actor.is_superuser:
        return frozenset({"*"})
    mine = frozenset().union(*(ACCOUNT_FIELDS.get(r, frozenset()) for r in user_roles(actor)))
    if target is None:
        return mine - {"password"}  # a new account gets no usable password until the security admin sets one
    if target.pk == actor.pk:
        return mine & OWN_ACCOUNT_FIELDS
    if user_roles(target) & SEPARATED_ROLES:
        return frozenset()
    return mine


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
    if user.is_superuser:  # break-glass accounts only; day-to-day administrators hold the role
        held |= {ADMIN}
    user._citygrid_roles = held
    return held


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def sync_role_permissions(**kwargs) -> None:
    """Give each administrative role exactly the admin-site permissions ROLE_PERMISSIONS declares."""
    from django.contrib.auth.models import Group, Permission

    for role in ALL_ROLES:
        Group.objects.get_or_create(name=role)
    for role, declared in ROLE_PERMISSIONS.items():
        wanted = Permission.objects.none()
        for entry in declared:
            app_label, codename = entry.split(".", 1)
            match = Permission.objects.filter(content_type__app_label=app_label)
            wanted |= match if codename == "*" else match.filter(codename=codename)
        Group.objects.get(name=role).permissions.set(wanted.distinct())


def check_separation(role_names: set[str] | frozenset[str]) -> None:
    """Refuse a set of roles that joins two of the three administrative duties."""
    from django.core.exceptions import ValidationError

    joined = set(role_names) & SEPARATED_ROLES
    if len(joined) > 1:
        raise ValidationError(_("Separation of duties: one person cannot be %(roles)s at once.")
                              % {"roles": " + ".join(str(ROLE_LABELS[r]) for r in sorted(joined))})
