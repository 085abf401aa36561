"""Role changes, whichever side of the relation makes them (`user.groups.add(group)` or
`group.user_set.add(user)`): refused when they would join separated duties, recorded in the audit trail
when made, with who made them. Passwords changed and accounts deactivated: their API tokens are revoked."""

from django.contrib.auth.models import Group, User
from django.db.models.signals import m2m_changed, post_save, pre_save
from django.dispatch import receiver

from . import roles
from .audit import record


@receiver(m2m_changed, sender=User.groups.through)
def _role_change(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    if action not in ("pre_add", "post_add", "post_remove", "pre_clear"):
        return
    # Forward (instance is a user, pk_set groups) or reverse (instance is a group, pk_set users): as pairs.
    if reverse:
        users = (list(instance.user_set.all()) if action == "pre_clear"
                 else list(User.objects.filter(pk__in=pk_set)))
        pairs = [(user, [instance.name]) for user in users]
    else:
        names = (list(instance.groups.values_list("name", flat=True)) if action == "pre_clear"
                 else list(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True)))
        pairs = [(instance, names)]
    for user, names in pairs:
        if action == "pre_add":
            roles.check_separation(set(user.groups.values_list("name", flat=True)) | set(names))
            continue
        sign = "+" if action == "post_add" else "-"
        change = " ".join(sign + n for n in sorted(names))
        if change:
            record("role_change", target=f"user: {user.get_username()}", detail=change)


@receiver(pre_save, sender=User)
def _account_saving(sender, instance: User, **kwargs) -> None:
    """An account switched off loses its API tokens at once (a token is a credential of its own). A new
    password: the stored one is kept on the instance for passwords.HistoryValidator to tell a change from a
    re-hash."""
    if not instance.pk or (instance.is_active and instance._password is None):
        return
    before = User.objects.filter(pk=instance.pk).values("is_active", "password").first()
    if before is None:
        return
    if instance._password is not None:
        instance._citygrid_previous_password = before["password"]
    if before["is_active"] and not instance.is_active:
        revoked = revoke_tokens(instance)
        record("account_deactivated", target=f"user: {instance.get_username()}", detail=f"{revoked} tokens revoked")


def revoke_tokens(user: User) -> int:
    from django.utils import timezone

    from .models import ApiToken

    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())


@receiver(post_save, sender=User)
def _account_created(sender, instance: User, created: bool, **kwargs) -> None:
    """A new account's first password starts its history (UserManager stores it without set_password)."""
    if created:
        from .passwords import remember_password

        remember_password(instance)
