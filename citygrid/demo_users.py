"""Demo users, one or more per role, for trying the platform and for the browser tests."""

import os

from django.contrib.auth.models import Group, User
from django.db import transaction

from grids.models import Area, Bureau, Cell, Level

from . import roles
from .models import StaffProfile

DEFAULT_DEMO_PASSWORD = "Xiangtan-demo-2026"

# username, display name, role, district code (None: city level), bureau code
DEMO_USERS = (
    ("admin", "系统管理员", roles.ADMIN, None, None),
    ("secadmin", "安全管理员", roles.SECADMIN, None, None),
    ("auditor", "审计管理员", roles.AUDITOR, None, None),
    ("dispatcher", "市指挥中心 刘派遣", roles.DISPATCHER, None, None),
    ("dispatcher_yuhu", "雨湖区指挥中心 陈派遣", roles.DISPATCHER, "430302", None),
    ("dispatcher_yuetang", "岳塘区指挥中心 周派遣", roles.DISPATCHER, "430304", None),
    ("operator", "受理员 王芳", roles.OPERATOR, None, None),
    ("leader", "分管领导 李明", roles.LEADER, None, None),
    ("bureau_cg", "市城管局 赵处置", roles.BUREAU_STAFF, None, "430300-CG"),
    ("bureau_power", "供电公司 孙抢修", roles.BUREAU_STAFF, None, "430300-GD"),
    ("bureau_yuhu_cg", "雨湖区城管局 钱队长", roles.BUREAU_STAFF, "430302", "430302-CG"),
    # Crews' phones: bureau-staff accounts tied to a response unit (dispatch.demo.load_units)
    ("crew_cg1", "城管巡查一组 吴组长", roles.BUREAU_STAFF, None, "430300-CG"),
    ("crew_power1", "供电抢修一队 郑队长", roles.BUREAU_STAFF, None, "430300-GD"),
    ("inspector_yuhu1", "网格员 张伟", roles.INSPECTOR, "430302", None),
    ("inspector_yuhu2", "网格员 李娜", roles.INSPECTOR, "430302", None),
    ("inspector_yuetang1", "网格员 王强", roles.INSPECTOR, "430304", None),
    ("inspector_yuetang2", "网格员 刘洋", roles.INSPECTOR, "430304", None),
)


def demo_password() -> str:
    return os.environ.get("DEMO_PASSWORD", DEFAULT_DEMO_PASSWORD)


@transaction.atomic
def load_demo_users() -> list[str]:
    """Create the demo users that are missing (existing ones, and their passwords, are left alone)."""
    created = []
    districts = {a.code: a for a in Area.objects.filter(level=Level.DISTRICT)}
    bureaus = {b.code: b for b in Bureau.objects.all()}
    for username, display, role, district_code, bureau_code in DEMO_USERS:
        user, is_new = User.objects.get_or_create(username=username, defaults={"first_name": display})
        if is_new:
            user.set_password(demo_password())
            # The three administrators use the admin site with their role's permissions; none is a superuser.
            user.is_staff = role in roles.SEPARATED_ROLES
            user.save()
            created.append(username)
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        profile, _ = StaffProfile.objects.update_or_create(
            user=user,
            defaults={"district": districts.get(district_code), "bureau": bureaus.get(bureau_code)},
        )
        if is_new:  # a published demo password: changed at the first login outside DEBUG
            StaffProfile.objects.filter(pk=profile.pk).update(must_change_password=True)
    _assign_inspectors()
    # The city-management bureaus' heads receive their overdue escalations (督办).
    for bureau_code, username in (("430300-CG", "bureau_cg"), ("430302-CG", "bureau_yuhu_cg"),
                                  ("430300-GD", "bureau_power")):
        Bureau.objects.filter(code=bureau_code, supervisor__isnull=True).update(
            supervisor=User.objects.get(username=username))
    return created


def _assign_inspectors() -> None:
    """Each district's inspectors share its gridded communities: the first half to one, the rest to the other."""
    for district_code, names in (("430302", ("inspector_yuhu1", "inspector_yuhu2")),
                                 ("430304", ("inspector_yuetang1", "inspector_yuetang2"))):
        communities = list(Area.objects.filter(level=Level.COMMUNITY, parent__parent__code=district_code,
                                               cells__isnull=False).distinct().order_by("code"))
        half = (len(communities) + 1) // 2
        for name, chunk in zip(names, (communities[:half], communities[half:]), strict=True):
            user = User.objects.get(username=name)
            if not user.inspected_cells.exists():
                user.inspected_cells.set(Cell.objects.filter(community__in=chunk))
