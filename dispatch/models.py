"""Dispatch: routing rules (which bureau a case goes to), the working calendar deadlines are counted in."""

from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from grids.models import Area, Bureau, Cell, Level
from incidents.models import Category, Urgency


class CalendarDay(models.Model):
    """A date that breaks the weekly rule: a public holiday on a weekday, or a make-up working day (调休)
    on a weekend. One row per date, loaded per year from the State Council's schedule."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("Public holiday")
        WORKDAY = "workday", _("Make-up working day")

    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=50)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class WorkPeriod(models.Model):
    """Office hours of a working day, e.g. 08:30–12:00 and 14:30–17:30."""

    start = models.TimeField(_("start"))
    end = models.TimeField(_("end"))

    class Meta:
        verbose_name = _("working period")
        verbose_name_plural = _("working hours")
        ordering = ["start"]

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"

    def clean(self) -> None:
        if self.start >= self.end:
            raise ValidationError(_("A period must end after it starts."))
        if WorkPeriod.objects.exclude(pk=self.pk).filter(start__lt=self.end, end__gt=self.start).exists():
            raise ValidationError(_("Working periods may not overlap."))


class RoutingRule(models.Model):
    """(category, optional area or cell, optional urgency, optional time of day) → bureau. The most specific
    matching rule wins; two rules equally specific for the same cases are refused."""

    category = models.ForeignKey(Category, verbose_name=_("class or subclass"), on_delete=models.CASCADE,
                                 related_name="routing_rules")
    area = models.ForeignKey(Area, verbose_name=_("area"), null=True, blank=True, on_delete=models.CASCADE,
                             related_name="routing_rules")
    cell = models.ForeignKey(Cell, verbose_name=_("cell"), null=True, blank=True, on_delete=models.CASCADE,
                             related_name="routing_rules")
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices, blank=True)
    active_from = models.TimeField(_("from (time of day)"), null=True, blank=True)
    active_until = models.TimeField(_("until (time of day)"), null=True, blank=True)
    bureau = models.ForeignKey(Bureau, verbose_name=_("bureau"), on_delete=models.PROTECT, related_name="routing_rules")
    priority = models.SmallIntegerField(_("priority"), default=0,
                                        help_text=_("Breaks ties between equally specific rules: higher wins."))
    over_component = models.BooleanField(
        _("wins over the component's bureau"), default=False,
        help_text=_("A case about a census component goes to the component's bureau in charge before the area "
                    "rules; tick this for a rule that should win all the same."))
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["category__code", "pk"]

    def __str__(self) -> str:
        from .routing import describe

        return describe(self)

    def save(self, *args, **kwargs) -> None:
        self.full_clean()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from .routing import conflicting_rule

        if self.area_id and self.cell_id:
            raise ValidationError(_("Scope a rule to an area or to a cell, not both."))
        if (self.active_from is None) != (self.active_until is None):
            raise ValidationError(_("Give both ends of the time window, or neither."))
        if self.active_from is not None and self.active_from == self.active_until:
            raise ValidationError(_("The time window is empty."))
        other = conflicting_rule(self)
        if other is not None:
            raise ValidationError(
                _("Rule %(other)s is as specific for the same cases with the same priority: change the scope or "
                  "the priority.") % {"other": other.pk})


class DispatchPolicy(models.Model):
    """Per catalogue class: registered cases that a rule routes go straight to the bureau (auto-dispatch)."""

    category = models.OneToOneField(Category, verbose_name=_("class"), on_delete=models.CASCADE,
                                    related_name="dispatch_policy", limit_choices_to={"parent__isnull": True})
    auto_dispatch = models.BooleanField(_("auto-dispatch"), default=False)

    class Meta:
        verbose_name = _("dispatch policy")
        verbose_name_plural = _("dispatch policies")

    def __str__(self) -> str:
        return f"{self.category}: {'auto' if self.auto_dispatch else 'manual'}"


class RoutingDecision(models.Model):
    """Why a case went (or was proposed to go) to a bureau, so a dispatcher can see it."""

    case = models.OneToOneField("incidents.Case", on_delete=models.CASCADE, related_name="routing", db_constraint=False)
    rule = models.ForeignKey(RoutingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    bureau = models.ForeignKey(Bureau, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    explanation = models.CharField(_("explanation"), max_length=300)
    decided_at = models.DateTimeField(_("decided at"), auto_now=True)

    class Meta:
        verbose_name = _("routing decision")
        verbose_name_plural = _("routing decisions")

    def __str__(self) -> str:
        return self.explanation


class Escalation(models.Model):
    """A near-due warning (yellow) or an overdue escalation (red, 督办) of a case for one deadline.

    One row per case, level and deadline: the watch can run twice, or be restarted mid-run, and never
    escalates the same lateness twice; a new deadline (after a postponement) can be escalated again."""

    class Level(models.TextChoices):
        NEAR_DUE = "near_due", _("Near due")
        OVERDUE = "overdue", _("Overdue")

    case = models.ForeignKey("incidents.Case", on_delete=models.CASCADE, related_name="escalations",
                             db_constraint=False)
    level = models.CharField(_("level"), max_length=8, choices=Level.choices)
    deadline = models.DateTimeField(_("deadline"))
    notified = models.ManyToManyField("auth.User", verbose_name=_("notified"), blank=True, related_name="+")
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        constraints = [models.UniqueConstraint(fields=["case", "level", "deadline"], name="escalation_once")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.level} {self.deadline:%Y-%m-%d %H:%M}"


class ResponseUnit(models.Model):
    """A crew or vehicle of a bureau that can be sent to an emergency, with its last reported position.

    A crew's phone logs in with a bureau-staff account of the unit's bureau tied to the unit (`account`): that
    account commands this unit only (its position, duty and steps; dispatch.scoping) and lands on /unit/."""

    class State(models.TextChoices):
        AVAILABLE = "available", _("Available")
        BUSY = "busy", _("On a task")
        OFFLINE = "offline", _("Off duty")

    class Kind(models.TextChoices):
        PATROL = "patrol", _("Patrol crew")
        REPAIR = "repair", _("Repair crew")
        RESCUE = "rescue", _("Rescue team")
        VEHICLE = "vehicle", _("Vehicle")
        OTHER = "other", _("Other")

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.PATROL)
    bureau = models.ForeignKey(Bureau, verbose_name=_("home bureau"), on_delete=models.PROTECT, related_name="units")
    district = models.ForeignKey(Area, verbose_name=_("home district"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+", limit_choices_to={"level": Level.DISTRICT},
                                 help_text=_("Where the unit is based; a district bureau's units are based in its "
                                             "district."))
    crew_size = models.PositiveSmallIntegerField(_("crew size"), default=2)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.AVAILABLE,
                             help_text=_("Off duty: not sent, and its phone stops sharing its position."))
    account = models.OneToOneField("auth.User", verbose_name=_("crew's phone account"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="response_unit",
                                   help_text=_("A bureau-staff account of the same bureau; it commands only this "
                                               "unit and opens on the crew's page."))
    position = models.PointField(_("position"), srid=4326, null=True, blank=True)
    position_at = models.DateTimeField(_("position reported at"), null=True, blank=True)

    class Meta:
        verbose_name = _("response unit")
        verbose_name_plural = _("response units")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def clean(self) -> None:
        errors = {}
        if self.district_id and self.district.level != Level.DISTRICT:
            errors["district"] = _("Choose a district, not another level.")
        elif self.bureau_id and self.bureau.district_id and self.district_id \
                and self.district_id != self.bureau.district_id:
            errors["district"] = _("A district bureau's units are based in its district.")
        if self.crew_size is not None and self.crew_size < 1:
            errors["crew_size"] = _("At least one person.")
        if self.account_id:
            profile = getattr(self.account, "profile", None)
            if not (self.account.groups.filter(name="bureau_staff").exists() and profile
                    and profile.bureau_id == self.bureau_id):
                errors["account"] = _("The crew's account must be a bureau-staff account of the unit's bureau.")
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs) -> None:
        if self.district_id is None and self.bureau_id and self.bureau.district_id:
            self.district_id = self.bureau.district_id
        super().save(*args, **kwargs)

    @property
    def on_duty(self) -> bool:
        return self.state != self.State.OFFLINE


class UnitAssignment(models.Model):
    """A unit sent to a case, with the times of the command chain: dispatched, acknowledged, arrived, cleared."""

    case = models.ForeignKey("incidents.Case", on_delete=models.PROTECT, related_name="unit_assignments",
                             db_constraint=False)
    unit = models.ForeignKey(ResponseUnit, on_delete=models.PROTECT, related_name="assignments")
    dispatched_by = models.ForeignKey("auth.User", null=True, on_delete=models.PROTECT, related_name="+")
    dispatched_at = models.DateTimeField(_("dispatched at"), auto_now_add=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    arrived_at = models.DateTimeField(_("arrived at"), null=True, blank=True)
    cleared_at = models.DateTimeField(_("cleared at"), null=True, blank=True)

    class Meta:
        verbose_name = _("unit assignment")
        verbose_name_plural = _("unit assignments")
        ordering = ["dispatched_at"]
        constraints = [models.UniqueConstraint(fields=["unit"], condition=models.Q(cleared_at__isnull=True),
                                               name="one_open_assignment_per_unit")]

    def __str__(self) -> str:
        return f"{self.unit} → {self.case}"


class EvaluationWeight(models.Model):
    """The weight of one indicator in the composite score (综合评价), as data."""

    metric = models.CharField(_("indicator"), max_length=32, unique=True)
    weight = models.FloatField(_("weight"))

    class Meta:
        verbose_name = _("evaluation weight")
        verbose_name_plural = _("evaluation weights")

    def __str__(self) -> str:
        return f"{self.metric}: {self.weight:g}"


class StageLimit(models.Model):
    """How long the command centre and the inspectors may take over their own stages, in working hours:
    registering a report, dispatching a registered case, verifying a processed one. (Processing has the
    subclass's own time limit.)"""

    class Stage(models.TextChoices):
        REGISTER = "register", _("Registration")
        DISPATCH = "dispatch", _("Dispatch")
        VERIFY = "verify", _("Verification")

    stage = models.CharField(_("stage"), max_length=10, choices=Stage.choices)
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices, blank=True,
                               help_text=_("Empty: any urgency without a limit of its own."))
    hours = models.FloatField(_("working hours"))

    class Meta:
        verbose_name = _("stage time limit")
        verbose_name_plural = _("stage time limits")
        constraints = [models.UniqueConstraint(fields=["stage", "urgency"], name="stage_limit_unique")]

    def __str__(self) -> str:
        return f"{self.stage} {self.urgency or '*'}: {self.hours:g} h"


class Heartbeat(models.Model):
    """The scheduler's last sign of life, for /readyz."""

    name = models.CharField(max_length=40, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} {self.beat_at:%Y-%m-%d %H:%M:%S}"


class DailyTally(models.Model):
    """Cases counted per local day, community and major class: reported (by report day), closed and processed
    on time (by the day it happened). Written by statement-level triggers on the case and its log (migrations
    0010, 0011) as increments — plain inserts, so concurrent reports never wait on each other's counter row —
    that the scheduler folds into one row per key every few minutes (`compact_tallies`). Readers sum, so
    they are right before and after folding; the dashboards read a few thousand rows, not a million cases."""

    day = models.DateField()
    district = models.ForeignKey(Area, null=True, on_delete=models.CASCADE, related_name="+")
    community = models.ForeignKey(Area, null=True, on_delete=models.CASCADE, related_name="+")
    major = models.ForeignKey(Category, null=True, on_delete=models.CASCADE, related_name="+")
    reported = models.IntegerField(default=0)
    closed = models.IntegerField(default=0)
    processed = models.IntegerField(default=0)
    on_time = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["day"], name="dailytally_day_idx")]


class DueTally(models.Model):
    """Due cases (应结案, dispatch.evaluation) counted per due day, district and major class, with what the due
    figures ask of each case as at a period's end: the days of its deadline, closure and processing report, and
    whether that report came by the deadline. The dashboard's KPIs read a month's due figures from these rows
    (a few thousand) instead of passing over its cases (a million a month in a large city). Kept by statement
    triggers on the cases (migration 0016) as signed increments — a case's old contribution out, its new one
    in — folded with the daily tallies (`compact_tallies`). A row with no deadline day is a case without a
    deadline (无时限); one with no closed day is not closed. A subclass moved to another class takes its cases'
    rows with it (a trigger on the catalogue, migration 0017)."""

    day = models.DateField()  # the local day of the case's due time, least(deadline, closure)
    district = models.ForeignKey(Area, null=True, on_delete=models.CASCADE, related_name="+")
    major = models.ForeignKey(Category, null=True, on_delete=models.CASCADE, related_name="+")
    deadline_day = models.DateField(null=True)
    closed_day = models.DateField(null=True)  # set only for a case whose status is closed
    processed_day = models.DateField(null=True)
    processed_by_deadline = models.BooleanField()
    n = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="duetally_day_idx")]


class Bulletin(models.Model):
    """A bulletin (通报) as issued for a period and a scope — the city, or one district: the figures it printed
    (JSON, so its tables export again exactly as issued) and its PDF, kept in the media storage and served
    only through a permission-checked view. The scheduler issues last month's on the first working day."""

    start = models.DateField(_("from"))
    end = models.DateField(_("to (exclusive)"))
    district = models.ForeignKey(Area, verbose_name=_("district"), null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", help_text=_("Empty: the whole city."))
    generated_at = models.DateTimeField(_("generated at"))
    figures = models.JSONField(_("figures"))
    pdf = models.FileField(_("PDF"), upload_to="bulletins/%Y/%m/")

    class Meta:
        verbose_name = _("bulletin")
        verbose_name_plural = _("bulletins")
        ordering = ["-start", "district__code"]
        constraints = [models.UniqueConstraint(fields=["start", "end", "district"], nulls_distinct=False,
                                               name="bulletin_once_per_period_and_scope")]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m} {self.district.name if self.district_id else '—'}"
