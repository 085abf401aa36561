"""Emergency command (应急指挥): incidents (突发事件) that group the response to one event above the cases, the
special headquarters (专项指挥部) that command them, plans (预案) as versioned data, the tasks a plan's activation
creates for bureaus and crews, emergency resources (应急资源) and what was mobilised.

The incident log is append-only like the case log: a database trigger refuses UPDATE and DELETE (migration 0002),
and the runtime role may only insert and read it (citygrid.dbroles)."""

from django.conf import settings
from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dispatch.models import ResponseUnit
from grids.models import Area, Bureau
from incidents.models import Case


class Category(models.TextChoices):
    """The national framework's four categories of emergencies (突发事件应对法, 国家突发公共事件总体应急预案)."""

    NATURAL = "natural", _("Natural disaster")  # 自然灾害
    ACCIDENT = "accident", _("Accident and disaster")  # 事故灾难
    HEALTH = "health", _("Public health event")  # 公共卫生事件
    SOCIAL = "social", _("Social security event")  # 社会安全事件


class Level(models.IntegerChoices):
    """Severity grades: I is the most severe. A plan covers a range, e.g. III–IV."""

    I = 1, _("I (especially serious)")  # 特别重大  # noqa: E741
    II = 2, _("II (serious)")  # 重大
    III = 3, _("III (major)")  # 较大
    IV = 4, _("IV (general)")  # 一般


class EventType(models.Model):
    """A type of emergency within its category (洪涝灾害, 燃气爆炸…): data, loaded from data/event_types.csv."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    category = models.CharField(_("category"), max_length=10, choices=Category.choices)
    name = models.CharField(_("name"), max_length=50)

    class Meta:
        verbose_name = _("event type")
        verbose_name_plural = _("event types")
        ordering = ["category", "code"]

    def __str__(self) -> str:
        return self.name


class Headquarters(models.Model):
    """A special headquarters (专项指挥部: 防汛抗旱指挥部, 安全生产委员会…) at city or district level, with its member
    bureaus and people. Members see the incidents it commands."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    district = models.ForeignKey(Area, verbose_name=_("district"), null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", limit_choices_to={"level": 2},
                                 help_text=_("Empty for a city-level headquarters."))
    lead_bureau = models.ForeignKey(Bureau, verbose_name=_("lead bureau (office)"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    bureaus = models.ManyToManyField(Bureau, verbose_name=_("member bureaus"), blank=True, related_name="headquarters")
    people = models.ManyToManyField(settings.AUTH_USER_MODEL, verbose_name=_("members"), blank=True,
                                    related_name="headquarters")
    duty_phone = models.CharField(_("duty phone"), max_length=30, blank=True)

    class Meta:
        verbose_name = _("special headquarters")
        verbose_name_plural = _("special headquarters")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Plan(models.Model):
    """A plan (预案) for an event type and a range of levels, commanded by a headquarters. Versioned: a new
    version is a new row with the same code; an incident keeps the version it activated."""

    code = models.SlugField(_("code"), max_length=32)
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    name = models.CharField(_("name"), max_length=100)
    event_type = models.ForeignKey(EventType, verbose_name=_("event type"), on_delete=models.PROTECT,
                                   related_name="plans")
    most_severe = models.PositiveSmallIntegerField(_("most severe level"), choices=Level.choices, default=Level.I)
    least_severe = models.PositiveSmallIntegerField(_("least severe level"), choices=Level.choices, default=Level.IV)
    headquarters = models.ForeignKey(Headquarters, verbose_name=_("commanding headquarters"),
                                     on_delete=models.PROTECT, related_name="plans")
    notify_bureaus = models.ManyToManyField(Bureau, verbose_name=_("notified bureaus"), blank=True, related_name="+")
    resources_note = models.TextField(_("resources to mobilise"), blank=True)
    active = models.BooleanField(_("in force"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        ordering = ["code", "-version"]
        constraints = [models.UniqueConstraint(fields=["code", "version"], name="emergency_plan_version_unique"),
                       models.CheckConstraint(condition=Q(most_severe__lte=models.F("least_severe")),
                                              name="emergency_plan_level_range")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def covers(self, level: int) -> bool:
        return self.most_severe <= level <= self.least_severe

    def clean(self) -> None:
        if self.most_severe and self.least_severe and self.most_severe > self.least_severe:
            raise ValidationError({"least_severe": _("The range must go from the more severe level to the less.")})


class TaskKind(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")  # 先期处置
    CORDON = "cordon", _("Site cordon")  # 现场警戒
    EVACUATION = "evacuation", _("Evacuation")  # 人员疏散
    REPAIR = "repair", _("Emergency repair")  # 抢修
    DRAINAGE = "drainage", _("Drainage")  # 排涝
    MEDICAL = "medical", _("Medical rescue")  # 医疗救护
    TRAFFIC = "traffic", _("Traffic control")  # 交通管制
    SUPPLIES = "supplies", _("Supplies")  # 物资保障
    INFORMATION = "information", _("Public information")  # 信息发布
    OTHER = "other", _("Other")


class PlanTask(models.Model):
    """One task of a plan: its owner (a member unit), what and within how many minutes of the activation."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(_("kind"), max_length=16, choices=TaskKind.choices)
    title = models.CharField(_("task"), max_length=200)
    # Nullable in the database so that the admin can say "no task without an owner" as a form error.
    bureau = models.ForeignKey(Bureau, verbose_name=_("owner"), null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")
    limit_minutes = models.PositiveIntegerField(_("time limit (minutes from activation)"))
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("plan task")
        verbose_name_plural = _("plan tasks")
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if not self.bureau_id:
            raise ValidationError({"bureau": _("Every task needs an owner.")})


class Status(models.TextChoices):
    OCCURRED = "occurred", _("Occurred")  # 发生
    RESPONDING = "responding", _("Responding")  # 响应
    HANDLING = "handling", _("Handling")  # 处置
    ENDED = "ended", _("Ended")  # 结束


class Incident(models.Model):
    """An emergency (突发事件) and the response to it. The districts its area touches are kept with it (on every
    change of the area) so that scoping is an index lookup, as cases keep their district."""

    number = models.CharField(_("incident number"), max_length=20, unique=True, editable=False)
    title = models.CharField(_("title"), max_length=200)
    event_type = models.ForeignKey(EventType, verbose_name=_("event type"), on_delete=models.PROTECT,
                                   related_name="incidents")
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices)
    area = models.MultiPolygonField(_("affected area"), srid=4326)
    districts = models.ManyToManyField(Area, verbose_name=_("districts touched"), related_name="+", blank=True)
    opened_by_district = models.ForeignKey(Area, verbose_name=_("opened by (district)"), null=True, blank=True,
                                           on_delete=models.PROTECT, related_name="+")
    headquarters = models.ForeignKey(Headquarters, verbose_name=_("commanding headquarters"), null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="incidents")
    commander = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("commander"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.OCCURRED)
    drill = models.BooleanField(_("drill"), default=False,
                                help_text=_("A drill (演练): the same flows, marked everywhere, no real cases."))
    plan = models.ForeignKey(Plan, verbose_name=_("activated plan"), null=True, blank=True, on_delete=models.PROTECT,
                             related_name="incidents")
    plan_activated_at = models.DateTimeField(_("plan activated at"), null=True, blank=True)
    episode = models.ForeignKey("monitoring.AlarmEpisode", verbose_name=_("sensor alarm"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+")
    description = models.TextField(_("description"), max_length=4000, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("opened by"), on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(_("opened at"), default=timezone.now, db_index=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status != Status.ENDED


class IncidentCase(models.Model):
    """A case that is part of an incident (a case belongs to one incident at most)."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="case_links")
    case = models.OneToOneField(Case, on_delete=models.PROTECT, related_name="incident_link", db_constraint=False)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)


class IncidentLog(models.Model):
    """One step of an incident. Append-only: the database refuses UPDATE and DELETE on this table."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="log")
    action = models.CharField(_("action"), max_length=24)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("incident log entry")
        verbose_name_plural = _("incident log")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.action}"


class TaskState(models.TextChoices):
    ISSUED = "issued", _("Issued")  # 已下达
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")  # 已接收
    DONE = "done", _("Done")  # 已完成


class IncidentTask(models.Model):
    """A task an activated plan gave a bureau (and, when the bureau sends one, a crew): acknowledged and reported
    done; past its deadline and not done it escalates once (督办)."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="tasks")
    plan_task = models.ForeignKey(PlanTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(_("kind"), max_length=16, choices=TaskKind.choices)
    title = models.CharField(_("task"), max_length=200)
    bureau = models.ForeignKey(Bureau, verbose_name=_("owner"), on_delete=models.PROTECT, related_name="incident_tasks")
    unit = models.ForeignKey(ResponseUnit, verbose_name=_("crew"), null=True, blank=True, on_delete=models.PROTECT,
                             related_name="incident_tasks")
    limit_minutes = models.PositiveIntegerField(_("time limit (minutes)"))
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    due_at = models.DateTimeField(_("due at"))
    state = models.CharField(_("state"), max_length=12, choices=TaskState.choices, default=TaskState.ISSUED)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    note = models.TextField(_("report"), max_length=2000, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)

    class Meta:
        verbose_name = _("incident task")
        verbose_name_plural = _("incident tasks")
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["due_at"], name="emergency_task_open_due_idx",
                                condition=~Q(state="done"))]

    def __str__(self) -> str:
        return self.title

    @property
    def overdue(self) -> bool:
        end = self.done_at or timezone.now()
        return end > self.due_at


class ResourceKind(models.TextChoices):
    SHELTER = "shelter", _("Shelter")  # 避难场所
    STOCKPILE = "stockpile", _("Stockpile")  # 物资储备
    TEAM = "team", _("Rescue team")  # 救援队伍
    EXPERT = "expert", _("Expert")  # 专家


class Resource(models.Model):
    """An emergency resource (应急资源): located, owned by a bureau, with a contact; shelters have a capacity,
    stockpiles their items, teams their size."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=ResourceKind.choices, db_index=True)
    name = models.CharField(_("name"), max_length=100)
    location = models.PointField(_("location"), srid=4326)
    district = models.ForeignKey(Area, verbose_name=_("district"), null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    bureau = models.ForeignKey(Bureau, verbose_name=_("owner bureau"), on_delete=models.PROTECT, related_name="+")
    contact_name = models.CharField(_("contact person"), max_length=50, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=30, blank=True)
    capacity = models.PositiveIntegerField(_("capacity (people)"), null=True, blank=True)
    size = models.PositiveIntegerField(_("team size"), null=True, blank=True)
    speciality = models.CharField(_("speciality"), max_length=100, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("emergency resource")
        verbose_name_plural = _("emergency resources")
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return self.name


class StockItem(models.Model):
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="items")
    name = models.CharField(_("item"), max_length=60)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit = models.CharField(_("unit"), max_length=10)

    class Meta:
        verbose_name = _("stock item")
        verbose_name_plural = _("stock items")
        constraints = [models.UniqueConstraint(fields=["resource", "name"], name="emergency_stock_item_unique")]

    def __str__(self) -> str:
        return f"{self.name} {self.quantity}{self.unit}"


class Mobilisation(models.Model):
    """A resource mobilised for an incident (调用), with what and how much."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="mobilisations")
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="mobilisations")
    note = models.CharField(_("what and how much"), max_length=200, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
