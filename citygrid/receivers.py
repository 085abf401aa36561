"""Role changes: refused when they would join separated duties, recorded in the audit trail when made."""

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
