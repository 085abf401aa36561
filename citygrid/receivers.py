"""Role changes: refused when they would join separated duties, recorded in the audit trail when made. Case
actions: recorded in the audit trail too (with the address they came from), in the action's transaction."""

from django.contrib.auth.models import Group, User
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from . import roles
from .audit import record


@receiver(m2m_changed, sender=User.groups.through)
def _role_change(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    if reverse or action not in ("pre_add", "post_add", "post_remove", "pre_clear"):
        return
    if action == "pre_add":
        adding = set(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True))
        current = set(instance.groups.values_list("name", flat=True))
        roles.check_separation(current | adding)
        return
    if action == "pre_clear":
        names = sorted(instance.groups.values_list("name", flat=True))
        change = " ".join(f"-{n}" for n in names)
    else:
        names = sorted(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True))
        change = " ".join(("+" if action == "post_add" else "-") + n for n in names)
    if change:
        record("role_change", target=f"user: {instance.get_username()}", detail=change)


def _case_action(sender, case, action: str, actor, entry, **kwargs) -> None:
    record(f"case_{action}", user=actor, target=f"case: {case.number}",
           detail=f"{entry.from_status} → {entry.to_status}")


def connect_case_actions() -> None:
    from incidents.lifecycle import transitioned
    from incidents.models import Case

    transitioned.connect(_case_action, sender=Case, dispatch_uid="citygrid-audit-case-actions")
