"""Warnings (预警) and their log. A warning is what the centre keeps current (level, area, texts, times); every
issue, update and cancel appends one row to its log, holding the CAP 1.2 document published for it — so a
published document never changes, and its identifier stays stable (the log is append-only in the database)."""

from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grids.models import Area, Level


class WarningLevel(models.TextChoices):
    """The four colours of China's warning system, lowest first; CAP's severity for each is in `cap.SEVERITY`."""

    BLUE = "blue", _("Blue")
    YELLOW = "yellow", _("Yellow")
    ORANGE = "orange", _("Orange")
    RED = "red", _("Red")


LEVEL_ORDER = {level: i for i, level in enumerate(WarningLevel.values)}
LEVEL_COLOURS = {"blue": "#1e6fd9", "yellow": "#f2c500", "orange": "#f57c00", "red": "#d32f2f"}


class WarningType(models.Model):
    """A kind of hazard (暴雨, 台风, 高温…): data, shipped by a migration. `cap_category` is CAP's <category>."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=40, unique=True)
    cap_category = models.CharField(_("CAP category"), max_length=10, default="Met")
    ordering = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("warning type")
        verbose_name_plural = _("warning types")
        ordering = ["ordering", "code"]

    def __str__(self) -> str:
        return self.name


class EarlyWarning(models.Model):
    """One warning as it stands now. `district` is the issuing centre's (empty: the city's centre)."""

    class State(models.TextChoices):
        ACTIVE = "active", _("In force")
        CANCELLED = "cancelled", _("Lifted")

    type = models.ForeignKey(WarningType, verbose_name=_("warning type"), on_delete=models.PROTECT)
    level = models.CharField(_("level"), max_length=10, choices=WarningLevel.choices)
    headline = models.CharField(_("headline"), max_length=160)
    description = models.TextField(_("description"), max_length=4000)
    instruction = models.TextField(_("instructions"), max_length=4000, blank=True)
    area_desc = models.CharField(_("area"), max_length=200)
    area = models.MultiPolygonField(_("area drawn"), srid=4326)
    effective = models.DateTimeField(_("effective"))
    expires = models.DateTimeField(_("expires"))
    district = models.ForeignKey(Area, verbose_name=_("district"), null=True, blank=True, on_delete=models.PROTECT,
                                 limit_choices_to={"level": Level.DISTRICT}, related_name="+")
    exercise = models.BooleanField(_("drill"), default=False)
    # The incident (突发事件) it warns for, by number — CAP's own <incidents> key; set only by the emergency app's
    # "issue a warning for this incident" (which checks the incident), never by the warnings API (alerts sits below
    # the emergency app and knows no incidents).
    incident = models.CharField(_("incident"), max_length=20, blank=True, db_index=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.ACTIVE)
    version = models.PositiveIntegerField(_("version"), default=1)  # what an update or cancel must have seen
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("issued by"), on_delete=models.PROTECT,
                                  related_name="+")
    issued_at = models.DateTimeField(_("issued"))
    updated_at = models.DateTimeField(_("updated"))
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        verbose_name = _("warning")
        verbose_name_plural = _("warnings")
        ordering = ["-issued_at"]
        constraints = [models.CheckConstraint(condition=Q(expires__gt=models.F("effective")),
                                              name="alerts_warning_expires_after_effective")]
        indexes = [models.Index(fields=["state", "expires"], name="alerts_warning_force_idx")]

    def __str__(self) -> str:
        return self.headline

    def in_force(self, now=None) -> bool:
        return self.state == self.State.ACTIVE and self.expires > (now or timezone.now())


class WarningLog(models.Model):
    """One issue, update or cancel, by whom, with the CAP document it published. Append-only (a trigger refuses
    UPDATE and DELETE even to the owner; the runtime role is granted SELECT and INSERT only)."""

    class Action(models.TextChoices):
        ISSUE = "issue", _("Issued")
        UPDATE = "update", _("Updated")
        CANCEL = "cancel", _("Lifted")

    warning = models.ForeignKey(EarlyWarning, verbose_name=_("warning"), on_delete=models.PROTECT, related_name="log")
    seq = models.PositiveSmallIntegerField(_("number"))
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT,
                              related_name="+")
    sent = models.DateTimeField(_("sent"))
    identifier = models.CharField(_("CAP identifier"), max_length=100, unique=True)
    references = models.TextField(_("CAP references"), blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    cap_xml = models.TextField(_("CAP document"))

    class Meta:
        verbose_name = _("warning log entry")
        verbose_name_plural = _("warning log")
        ordering = ["warning", "seq"]
        constraints = [models.UniqueConstraint(fields=["warning", "seq"], name="alerts_warninglog_seq_unique")]

    def __str__(self) -> str:
        return self.identifier
