"""Cases (案件) and the GB/T 30428 / CJ/T 214 catalogue they are classified in.

A case is located on intake: its cell and every area above it are stored with it, so that scoping and
aggregation never need a spatial join. Its lifecycle is in incidents.lifecycle; every change appends to
CaseLog, which nothing updates or deletes (a database trigger refuses it).
"""

import uuid

from django.conf import settings
from django.contrib.gis.db import models
from django.db.models.functions import Least
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grids.models import Area, Bureau, Cell


class Kind(models.TextChoices):
    COMPONENT = "component", _("Component")  # 部件
    EVENT = "event", _("Event")  # 事件



class Urgency(models.TextChoices):
    EMERGENCY = "emergency", _("Emergency")  # 特急
    URGENT = "urgent", _("Urgent")  # 紧急
    NORMAL = "normal", _("Normal")  # 一般


class Category(models.Model):
    """A major class (no parent) or a subclass of the catalogue. Cases point at subclasses."""

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    code = models.CharField(_("code"), max_length=10, unique=True,
                            help_text=_("BJ/SJ (component/event) + 2-digit class + 2-digit subclass"))
    parent = models.ForeignKey("self", verbose_name=_("major class"), null=True, blank=True,
                               on_delete=models.PROTECT, related_name="subclasses")
    name_zh = models.CharField(_("Chinese name"), max_length=50)
    name_en = models.CharField(_("English name"), max_length=100)
    default_bureau_kind = models.CharField(_("default bureau kind"), max_length=32, choices=Bureau.Kind.choices,
                                           blank=True)
    photo_required = models.BooleanField(_("photo required"), default=False)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name_zh}"


class TimeLimit(models.Model):
    """How long a subclass may take to process at an urgency, in working hours or working days."""

    class Unit(models.TextChoices):
        HOURS = "hours", _("working hours")
        DAYS = "days", _("working days")

    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="time_limits")
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices)
    amount = models.PositiveIntegerField(_("amount"))
    unit = models.CharField(_("unit"), max_length=5, choices=Unit.choices)

    class Meta:
        verbose_name = _("time limit")
        verbose_name_plural = _("time limits")
        constraints = [models.UniqueConstraint(fields=["category", "urgency"], name="time_limit_unique")]

    def __str__(self) -> str:
        return f"{self.category.code} {self.urgency}: {self.amount} {self.unit}"


class Status(models.TextChoices):
    REPORTED = "reported", _("Reported")  # 上报
    REGISTERED = "registered", _("Registered")  # 立案
    REJECTED = "rejected", _("Not registered")  # 不予立案
    DISPATCHED = "dispatched", _("Dispatched")  # 派遣
    RETURNED = "returned", _("Returned")  # 退回
    IN_PROGRESS = "in_progress", _("In progress")  # 处置中
    POSTPONED = "postponed", _("Postponed")  # 延期
    PROCESSED = "processed", _("Processed")  # 处置反馈
    VERIFIED = "verified", _("Verified")  # 核查通过
    CLOSED = "closed", _("Closed")  # 结案
    CANCELLED = "cancelled", _("Cancelled")  # 作废
    MERGED = "merged", _("Merged")  # 合并


FINAL_STATUSES = frozenset({Status.CLOSED, Status.REJECTED, Status.CANCELLED, Status.MERGED})
# Never due for closure: not (yet) registered, cancelled (作废) or merged into another case, which is due instead.
NOT_DUE_STATUSES = frozenset({Status.REPORTED, Status.REJECTED, Status.CANCELLED, Status.MERGED})


class Source(models.TextChoices):
    INSPECTOR = "inspector", _("Inspector")
    HOTLINE_12319 = "hotline_12319", _("Hotline 12319")
    HOTLINE_12345 = "hotline_12345", _("Hotline 12345")
    WEB = "web", _("Public web")
    OPEN311 = "open311", _("Open311")
    SENSOR = "sensor", _("Sensor")


PUBLIC_SOURCES = frozenset({Source.WEB, Source.OPEN311})


class CaseQuerySet(models.QuerySet):
    def get(self, *args, **kwargs):
        """A case by its id names its month, read from its key: by id alone the planner would weigh every
        monthly partition's indexes (about 0.4 ms each here; a decade holds 120 of them) on each look-up."""
        key = kwargs.get("pk", kwargs.get("id"))
        if isinstance(key, str) and key.isdigit():
            key = int(key)
        if not args and "created_at" not in kwargs and type(key) is int:
            at = CaseKey.objects.using(self.db).filter(pk=key).values_list("created_at", flat=True).first()
            if at is None:
                raise self.model.DoesNotExist(f"{self.model._meta.object_name} matching query does not exist.")
            try:
                return super().get(created_at=at, **kwargs)
            except self.model.DoesNotExist:
                pass  # out of the queryset's scope, or its report time corrected meanwhile: ask as asked
        return super().get(*args, **kwargs)


class Case(models.Model):
    # unique=True stays in Django's state (forms and serializers check it by a query, which reads every month),
    # but the database keeps these two unique in incidents_casekey (migration 0013): a partitioned table can
    # hold a unique index only with the month in it. A migration that changes either must say so by hand.
    number = models.CharField(_("case number"), max_length=20, unique=True, editable=False)
    client_uuid = models.UUIDField(_("client id"), unique=True, default=uuid.uuid4,
                                   help_text=_("Generated by the reporting device: a retry returns the same case."))
    location = models.PointField(_("location"), srid=4326)
    accuracy_m = models.FloatField(_("GPS accuracy (m)"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    cell = models.ForeignKey(Cell, verbose_name=_("cell"), null=True, blank=True, on_delete=models.PROTECT,
                             related_name="cases", db_index=False)  # case_cell_time_idx leads with it
    community = models.ForeignKey(Area, verbose_name=_("community"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")
    street = models.ForeignKey(Area, verbose_name=_("street"), null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")
    # The district's, category's and bureau's own indexes would repeat the leading column of case_district_status_idx,
    # case_dup_idx and case_bureau_status_idx: every report would write three more index entries for nothing.
    district = models.ForeignKey(Area, verbose_name=_("district"), on_delete=models.PROTECT, related_name="+",
                                 db_index=False)
    category = models.ForeignKey(Category, verbose_name=_("category"), on_delete=models.PROTECT,
                                 related_name="cases", limit_choices_to={"parent__isnull": False}, db_index=False)
    description = models.TextField(_("description"), max_length=2000, blank=True)
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("reporter"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="reported_cases")
    # A member of the public's contact details: personal data, shown only to roles that need them.
    contact_name = models.CharField(_("contact name"), max_length=50, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=30, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.REPORTED,
                              db_index=True)
    bureau = models.ForeignKey(Bureau, verbose_name=_("bureau"), null=True, blank=True, on_delete=models.PROTECT,
                               related_name="cases", db_index=False)
    deadline = models.DateTimeField(_("deadline"), null=True, blank=True)
    rework_count = models.PositiveSmallIntegerField(_("rework count"), default=0)
    postponement_until = models.DateTimeField(_("postponement requested until"), null=True, blank=True)
    merged_into = models.ForeignKey("self", verbose_name=_("merged into"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="merged_cases", db_constraint=False)
    # The surveyed object the case is about (部件), when the reporter picked one from the census.
    component = models.ForeignKey("assets.Component", verbose_name=_("component"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="cases")
    version = models.PositiveIntegerField(default=1, editable=False,
                                          help_text="incremented by every change; clients send it back to act")
    created_at = models.DateTimeField(_("reported at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    status_since = models.DateTimeField(_("in this status since"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # The bureau's latest processing report (处置反馈), kept from the case log by a database trigger (migration
    # 0006, which also sets closed_at for bulk writers) so that the evaluation judges a month's due cases —
    # processed by the deadline or not — in one pass over the cases, without joining a million log entries.
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["category", "status", "created_at"], name="case_dup_idx"),
                   models.Index(fields=["district", "status"], name="case_district_status_idx"),
                   # A cell's cases of a period, counted from the index alone (the dashboard's choropleth of cells);
                   # it stands for the foreign key's own index on the cell.
                   models.Index(fields=["cell", "created_at"], name="case_cell_time_idx"),
                   models.Index(fields=["bureau", "status"], name="case_bureau_status_idx"),
                   # Open cases by deadline, for "overdue now" (the dashboard, the watch) without the closed ones.
                   models.Index(fields=["deadline"], include=["bureau", "district"], name="case_open_deadline_idx",
                                condition=~models.Q(status__in=sorted(FINAL_STATUSES))),
                   # Closed cases whose reporter left a number: the hotline desk's callbacks (回访).
                   models.Index(fields=["closed_at"], name="case_callback_idx", condition=~models.Q(contact_phone="")),
                   # The evaluation's due cases (应结案): due at the earlier of the deadline and the closure.
                   models.Index(Least("deadline", "closed_at"), name="case_due_idx",
                                condition=~models.Q(status__in=sorted(NOT_DUE_STATUSES)))]

    objects = CaseQuerySet.as_manager()

    def __str__(self) -> str:
        return self.number

    @classmethod
    def from_db(cls, db, field_names, values):
        case = super().from_db(db, field_names, values)
        case._stored_at = case.__dict__.get("created_at")  # the month the row lies in (absent when deferred)
        return case

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        if kwargs.get("update_fields") is None or "created_at" in kwargs["update_fields"]:
            self._stored_at = self.created_at

    def _do_update(self, base_qs, using, pk_val, values, update_fields, forced_update):
        # The UPDATE names the month the row was read from, for the reason CaseQuerySet.get gives (a corrected
        # report time still moves the row: the new time is among the values). Should the row have moved
        # meanwhile, the update by id alone follows.
        stored = getattr(self, "_stored_at", None)
        if stored is not None and super()._do_update(base_qs.filter(created_at=stored), using, pk_val, values,
                                                     update_fields, forced_update):
            return True
        return super()._do_update(base_qs, using, pk_val, values, update_fields, forced_update)

    @property
    def is_open(self) -> bool:
        return self.status not in FINAL_STATUSES

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.deadline is not None and self.deadline < timezone.now()

    def sla_light(self, now=None) -> str:
        """The light of the processing deadline."""
        return sla_light(self.deadline if self.is_open else None, now)


def sla_light(deadline, now=None) -> str:
    """green; yellow within NEAR_DUE_HOURS of the deadline; red when it has passed."""
    from datetime import timedelta

    if deadline is None:
        return "green"
    now = now or timezone.now()
    if deadline <= now:
        return "red"
    return "yellow" if deadline - now <= timedelta(hours=settings.NEAR_DUE_HOURS) else "green"


class CaseKey(models.Model):
    """A case's id, number and client id, unique across every month's partition of the cases (PostgreSQL keeps a
    partitioned table's keys unique only with the partition key in them). Written by a database trigger with
    each case (migration 0013); everything that points at a case points here in the database. Tables that
    point at a case or a log entry declare `db_constraint=False`: Django could not make those foreign keys on a
    partitioned table, and the migration makes the real ones."""

    id = models.BigIntegerField(primary_key=True)
    created_at = models.DateTimeField()
    number = models.CharField(max_length=20, unique=True)
    client_uuid = models.UUIDField(unique=True)

    class Meta:
        verbose_name = _("case key")
        verbose_name_plural = _("case keys")

    def __str__(self) -> str:
        return self.number


class CaseLog(models.Model):
    """One step of a case's life. Append-only: the database refuses UPDATE and DELETE on this table."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="log", db_constraint=False)
    action = models.CharField(_("action"), max_length=24)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    from_status = models.CharField(_("from"), max_length=12, blank=True)
    to_status = models.CharField(_("to"), max_length=12)
    note = models.TextField(_("note"), blank=True)
    location = models.PointField(_("location"), srid=4326, null=True, blank=True)
    # The bureau responsible at this step (for a return: the bureau that returned it), so that evaluation
    # credits each step to the bureau of its time, not to the case's bureau now.
    bureau = models.ForeignKey(Bureau, verbose_name=_("bureau"), null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")
    # Where the case was at this step (copied from the case by save()), so that evaluation by district, street or
    # cell reads only the period's months of the log: joining each step to its case read every month's partition
    # of the cases, and the evaluation of a month grew with the years kept (issue 19).
    district = models.ForeignKey(Area, verbose_name=_("district"), null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", db_index=False)
    street = models.ForeignKey(Area, verbose_name=_("street"), null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+", db_index=False)
    cell = models.ForeignKey(Cell, verbose_name=_("cell"), null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+", db_index=False)
    # Written with the step so that evaluation over a million cases is one pass over the log: how long the
    # case stayed in from_status, and, for a processing report, whether it came by the deadline.
    seconds_in_from_status = models.FloatField(null=True, blank=True, editable=False)
    deadline_met = models.BooleanField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("case log entry")
        verbose_name_plural = _("case log")
        ordering = ["created_at", "id"]
        # Inspectors' verifications in a period (their evaluation) without reading the rest of the log.
        indexes = [models.Index(fields=["created_at"], include=["actor", "deadline_met"], name="caselog_verify_idx",
                                condition=models.Q(action__in=["verify_pass", "verify_fail"]))]

    def __str__(self) -> str:
        return f"{self.case_id} {self.action} {self.from_status}→{self.to_status}"

    def take_place(self) -> None:
        """The place from the case the caller holds (just moved, it is where the step happened), with no query; an
        entry written without it takes it from its case in the database (trigger, migration 0016)."""
        if self._state.adding and self.district_id is None and CaseLog.case.is_cached(self):
            case = self.case
            self.district_id, self.street_id, self.cell_id = case.district_id, case.street_id, case.cell_id

    def save(self, *args, **kwargs) -> None:
        self.take_place()
        super().save(*args, **kwargs)


class Photo(models.Model):
    class Kind(models.TextChoices):
        BEFORE = "before", _("Before")
        AFTER = "after", _("After")
        VERIFY = "verify", _("Verification")

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="photos", db_constraint=False)
    log_entry = models.ForeignKey(CaseLog, null=True, blank=True, on_delete=models.PROTECT, related_name="photos",
                                  db_constraint=False)
    # The entry's time, set by a database trigger: the foreign key to the partitioned log is (id, time).
    log_entry_at = models.DateTimeField(null=True, blank=True, editable=False)
    kind = models.CharField(max_length=6, choices=Kind.choices)
    image = models.ImageField(upload_to="photos/%Y/%m/")
    thumbnail = models.ImageField(upload_to="thumbs/%Y/%m/")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    taken_at = models.DateTimeField(null=True, blank=True, help_text="from EXIF, staff uploads only")
    taken_location = models.PointField(srid=4326, null=True, blank=True, help_text="EXIF GPS, staff uploads only")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]


class Open311Client(models.Model):
    """An application allowed to POST Open311 requests with its own api_key (only the hash is stored)."""

    name = models.CharField(_("name"), max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Open311 client")
        verbose_name_plural = _("Open311 clients")

    def __str__(self) -> str:
        return self.name


class Satisfaction(models.TextChoices):
    SATISFIED = "satisfied", _("Satisfied")  # 满意
    BASICALLY = "basically", _("Basically satisfied")  # 基本满意
    NOT_SATISFIED = "not_satisfied", _("Not satisfied")  # 不满意


class Callback(models.Model):
    """A call back to the person who reported a case (回访), once the work on it was closed. Append-only like
    the case log: the database refuses UPDATE and DELETE on this table."""

    # The case whose reporter was called: a hotline case merged into another is called back when that closes.
    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.PROTECT, related_name="callbacks",
                             db_constraint=False)
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("operator"), on_delete=models.PROTECT,
                                 related_name="+")
    reached = models.BooleanField(_("reached"))
    satisfaction = models.CharField(_("satisfaction"), max_length=16, choices=Satisfaction.choices, blank=True)
    note = models.TextField(_("note"), max_length=500, blank=True)
    reopened = models.BooleanField(_("reopened as rework"), default=False)
    # Whose work the answer judges, kept as at the call (the case that carried the work, its bureau and
    # district), so the satisfaction rate is one pass over this table.
    work_case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="+", editable=False,
                                  db_constraint=False)
    bureau = models.ForeignKey(Bureau, verbose_name=_("bureau"), null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")
    district = models.ForeignKey(Area, verbose_name=_("district"), on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("callback")
        verbose_name_plural = _("callbacks")
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(
            condition=models.Q(reached=False, satisfaction="") | models.Q(reached=True) & ~models.Q(satisfaction=""),
            name="callback_satisfaction_iff_reached")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.created_at:%Y-%m-%d %H:%M}"


class Precision(models.TextChoices):
    EXACT = "exact", _("Exact point")
    CELL = "cell", _("Snapped to the grid cell")
    STREET = "street", _("Snapped to the street")


class PublicationRule(models.Model):
    """Whether cases of a category (and source) are shown to the public, and how precisely. The most specific
    rule wins (incidents.publication); a case no rule covers is not published."""

    category = models.ForeignKey(Category, verbose_name=_("category"), null=True, blank=True,
                                 on_delete=models.CASCADE, related_name="+",
                                 help_text=_("A major class or a subclass; empty for every category."))
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, blank=True,
                              help_text=_("Empty for every source."))
    published = models.BooleanField(_("published"), default=False)
    precision = models.CharField(_("location shown"), max_length=8, choices=Precision.choices,
                                 default=Precision.CELL)
    show_description = models.BooleanField(_("show the description"), default=False,
                                           help_text=_("Descriptions may name people or addresses."))
    show_photos = models.BooleanField(_("show the after-photos"), default=True,
                                      help_text=_("Photos of the fix, once an inspector has verified it."))
    note = models.CharField(_("why"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("publication rule")
        verbose_name_plural = _("publication rules")
        ordering = ["category__code", "source"]
        constraints = [models.UniqueConstraint(fields=["category", "source"], nulls_distinct=False,
                                               name="publication_rule_unique")]

    def __str__(self) -> str:
        what = self.category.name_zh if self.category_id else _("every category")
        return f"{what} / {self.get_source_display() if self.source else _('every source')}"
