"""Who people are in CityGrid beyond their roles: their scope in the two-level city, and API tokens."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grids.models import Area, Bureau, Level


class StaffProfile(models.Model):
    """Where a user works: a district's centre (or the city's when empty), and a bureau for bureau staff."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    district = models.ForeignKey(
        Area,
        verbose_name=_("district"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        limit_choices_to={"level": Level.DISTRICT},
        help_text=_("Empty for city-level staff, who see the whole city."),
    )
    bureau = models.ForeignKey(Bureau, verbose_name=_("bureau"), null=True, blank=True,
                               on_delete=models.PROTECT, related_name="staff")
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    must_change_password = models.BooleanField(
        _("must change password"), default=False,
        help_text=_("Set for initial and demo passwords: the user changes it at the next login."))

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self) -> str:
        return str(self.user)

    def district_ids(self) -> list[int]:
        """This person's district in every boundary generation (grids.generations.lineage), read once per
        request: what the district scopes compare historical rows with."""
        from grids.generations import lineage

        cached = getattr(self, "_district_ids", None)
        if cached is None or cached[0] != self.district_id:
            self._district_ids = (self.district_id, lineage(self.district_id))
        return self._district_ids[1]

    def clean(self) -> None:
        if self.district_id and self.district.level != Level.DISTRICT:
            raise ValidationError({"district": _("Choose a district, not another level.")})


def hash_token(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """An API token; only its SHA-256 is stored, so a leaked database does not leak working tokens."""

    PREFIX_LENGTH = 8

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100, help_text=_("What or who uses this token."))
    prefix = models.CharField(max_length=PREFIX_LENGTH, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    def set_new_key(self) -> str:
        """Give the token a fresh random key; the clear key is returned once and never stored."""
        key = secrets.token_urlsafe(32)
        self.prefix, self.key_hash = key[: self.PREFIX_LENGTH], hash_token(key)
        return key

    @classmethod
    def issue(cls, user, name: str, days: int | None = 90) -> tuple["ApiToken", str]:
        token = cls(user=user, name=name, expires_at=timezone.now() + timedelta(days=days) if days else None)
        key = token.set_new_key()
        token.save()
        return token, key

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])


class PasswordHistory(models.Model):
    """The hashes of a user's recent passwords (as stored, never the passwords), so that a new password
    cannot be an old one (citygrid.passwords.HistoryValidator)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    password = models.CharField(max_length=128)
    set_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("earlier password")
        verbose_name_plural = _("earlier passwords")
        ordering = ["-set_at", "-id"]
        indexes = [models.Index(fields=["user", "-set_at"], name="password_history_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.set_at:%Y-%m-%d}"


class AuditEvent(models.Model):
    """The security audit trail (安全审计): who did what, when, from where, with what result.

    Append-only: the database refuses UPDATE and DELETE on this table (a trigger), so no role, not even a
    system administrator working through the application, can erase a trace."""

    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="+")
    username = models.CharField(_("user name"), max_length=150, blank=True,
                                help_text=_("As given, also for failed logins of unknown names."))
    ip = models.GenericIPAddressField(_("address"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=40, db_index=True)
    target = models.CharField(_("object"), max_length=200, blank=True)
    result = models.CharField(_("result"), max_length=20, default="ok")
    detail = models.TextField(_("detail"), blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.target} {self.result}"
