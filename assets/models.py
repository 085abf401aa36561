"""The component census (部件普查): every surveyed object of the city, located in its cell and areas on save,
with an append-only history of every change (ComponentLog, which a database trigger keeps append-only as the
case log is), and the census changes (变更) reported from the field that staff approve.

The catalogue's subclasses live in incidents, above this app: a component stores its subclass as the
catalogue's code (BJ0108), validated here against the catalogue table through the app registry."""

from django.apps import apps
from django.conf import settings
from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grids.locate import locate_many
from grids.models import Area, Bureau, Cell

from . import codes


class Status(models.TextChoices):
    GOOD = "good", _("Intact")  # 完好
    DAMAGED = "damaged", _("Damaged")  # 破损
    MISSING = "missing", _("Missing")  # 丢失
    OCCUPIED = "occupied", _("Occupied")  # 占用
    ABANDONED = "abandoned", _("Abandoned")  # 废弃


class Accuracy(models.TextChoices):
    A = "A", _("A (±0.5 m)")
    B = "B", _("B (±1 m)")
    C = "C", _("C (±10 m)")


ACCURACY_M = {Accuracy.A: 0.5, Accuracy.B: 1.0, Accuracy.C: 10.0}


def subclass_exists(code: str) -> bool:
    """Whether the catalogue (incidents.Category, when installed) has this component subclass."""
    try:
        category = apps.get_model("incidents", "Category")
    except LookupError:  # a deployment without cases: the code's form is all there is to check
        return True
    return category.objects.filter(code=code, kind="component", parent__isnull=False).exists()


_names: tuple[float, dict[str, str]] = (0.0, {})


def subclass_names() -> dict[str, str]:
    """Catalogue code → Chinese name of the component subclasses (what people read), kept a minute per process."""
    import time

    global _names
    if _names[0] > time.monotonic():
        return _names[1]
    try:
        category = apps.get_model("incidents", "Category")
        names = dict(category.objects.filter(kind="component").values_list("code", "name_zh"))
    except LookupError:
        names = {}
    _names = (time.monotonic() + 60, names)
    return names


class Component(models.Model):
    """One surveyed object (部件): a manhole cover, a street lamp, a hydrant, a bus shelter…"""

    code = models.CharField(_("code"), max_length=32, unique=True,
                            help_text=_("county + class + subclass + sequence, e.g. 4303020108000123"))
    subclass = models.CharField(_("subclass"), max_length=8, db_index=True,
                                help_text=_("the catalogue's code, e.g. BJ0108"))
    name = models.CharField(_("name"), max_length=100, blank=True)
    geom = models.GeometryField(_("location"), srid=4326,
                                help_text=_("a point; a line or polygon where the class is linear or areal"))
    bureau = models.ForeignKey(Bureau, verbose_name=_("bureau in charge"), null=True, blank=True,
                               on_delete=models.PROTECT, related_name="components")
    owner = models.CharField(_("owner"), max_length=100, blank=True)  # 权属单位
    maintainer = models.CharField(_("maintainer"), max_length=100, blank=True)  # 养护单位
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.GOOD,
                              db_index=True)
    accuracy = models.CharField(_("accuracy class"), max_length=1, choices=Accuracy.choices, default=Accuracy.B)
    survey_date = models.DateField(_("survey date"), null=True, blank=True)
    photo = models.ImageField(_("photo"), upload_to="components/%Y/%m/", blank=True)
    # Located on save, as cases are: scoping and counting never need a spatial join.
    cell = models.ForeignKey(Cell, verbose_name=_("cell"), null=True, blank=True, on_delete=models.PROTECT,
                             related_name="components", editable=False)
    community = models.ForeignKey(Area, verbose_name=_("community"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+", editable=False)
    street = models.ForeignKey(Area, verbose_name=_("street"), null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+", editable=False)
    district = models.ForeignKey(Area, verbose_name=_("district"), on_delete=models.PROTECT, related_name="+",
                                 editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("component")
        verbose_name_plural = _("components")
        ordering = ["code"]
        indexes = [models.Index(fields=["district", "subclass"], name="component_district_sub_idx")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}".strip()

    @property
    def accuracy_m(self) -> float:
        return ACCURACY_M[Accuracy(self.accuracy)]

    def anchor(self):
        """The point the component is located by: itself, or a point on its line or surface."""
        return self.geom if self.geom.geom_type == "Point" else self.geom.point_on_surface

    def locate(self) -> None:
        """Set the cell and areas from the geometry; ValidationError outside the city."""
        point = self.anchor()
        location = locate_many([(point.x, point.y)])[0]
        if location is None or "district" not in location.areas:
            raise ValidationError({"geom": _("This location is outside the city's jurisdiction.")})
        areas = location.areas
        self.cell_id = location.cell_id
        self.community_id = areas["community"].id if "community" in areas else None
        self.street_id = areas["street"].id if "street" in areas else None
        self.district_id = areas["district"].id
        self._county_code = areas["district"].code

    def clean(self) -> None:
        errors = {}
        try:
            codes.split_subclass(self.subclass)
            if not subclass_exists(self.subclass):
                errors["subclass"] = [_("No component subclass %(code)s in the catalogue.") % {"code": self.subclass}]
        except ValidationError as exc:
            errors["subclass"] = exc.messages
        if self.geom is None or self.geom.empty:
            errors["geom"] = [_("Give the component's location.")]
        elif self.geom.geom_type not in ("Point", "LineString", "MultiLineString", "Polygon", "MultiPolygon"):
            errors["geom"] = [_("A component is a point, a line or a polygon.")]
        if errors:
            raise ValidationError(errors)
        self.locate()
        try:
            codes.validate_code(self.code, self.subclass, self._county_code)
        except ValidationError as exc:
            raise ValidationError({"code": exc.messages}) from exc

    def save(self, *args, **kwargs) -> None:
        self.clean()
        super().save(*args, **kwargs)


# The fields a change is recorded for, in the history's order.
TRACKED = ("code", "subclass", "name", "geom", "bureau", "owner", "maintainer", "status", "accuracy",
           "survey_date", "photo")


class ComponentLog(models.Model):
    """One change of a component. Append-only: the database refuses UPDATE and DELETE on this table."""

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        UPDATE = "update", _("Changed")
        IMPORT = "import", _("Imported")
        CENSUS = "census", _("Census change approved")

    component = models.ForeignKey(Component, on_delete=models.PROTECT, related_name="log")
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    changes = models.JSONField(_("changes"), default=dict, help_text="field → [before, after]")
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("component history entry")
        verbose_name_plural = _("component history")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.component_id} {self.action} {self.created_at:%Y-%m-%d %H:%M}"


class CensusChange(models.Model):
    """A reported change to the census (变更) — a component missing from the map or gone from the street —
    that staff approve (the component is created or marked missing) or reject."""

    class Kind(models.TextChoices):
        NEW = "new", _("New component (not on the map)")
        MISSING = "missing", _("Component missing")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    subclass = models.CharField(_("subclass"), max_length=8)
    location = models.PointField(_("location"), srid=4326)
    component = models.ForeignKey(Component, verbose_name=_("component"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="census_changes")
    case_number = models.CharField(_("case number"), max_length=20, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("reported by"), null=True,
                                    blank=True, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.PENDING,
                             db_index=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    created_at = models.DateTimeField(_("reported at"), default=timezone.now)

    class Meta:
        verbose_name = _("census change")
        verbose_name_plural = _("census changes")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.subclass}"


# --- underground pipe networks (地下管线), as surveyed pipe data comes (CJJ 61) ------------------------------------

class NetworkKind(models.TextChoices):
    WATER = "water", _("Water supply")  # 给水
    STORM = "storm", _("Storm drainage")  # 排水-雨水
    SEWER = "sewer", _("Sewage")  # 排水-污水
    GAS = "gas", _("Gas")  # 燃气
    HEAT = "heat", _("Heating")  # 热力
    POWER = "power", _("Power")  # 电力
    TELECOM = "telecom", _("Telecommunications")  # 通信
    INDUSTRIAL = "industrial", _("Industrial")  # 工业


# Networks that flow one way (gravity drainage): a segment's source is upstream of its target.
FLOW_KINDS = frozenset({NetworkKind.STORM, NetworkKind.SEWER})
# Networks under pressure that valves isolate.
VALVED_KINDS = frozenset({NetworkKind.WATER, NetworkKind.GAS, NetworkKind.HEAT, NetworkKind.INDUSTRIAL})


class PipeNetwork(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=12, choices=NetworkKind.choices, db_index=True)
    owner = models.CharField(_("owner"), max_length=100, blank=True)
    bureau = models.ForeignKey(Bureau, verbose_name=_("bureau in charge"), null=True, blank=True,
                               on_delete=models.PROTECT, related_name="pipe_networks")

    class Meta:
        verbose_name = _("pipe network")
        verbose_name_plural = _("pipe networks")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class PipeStatus(models.TextChoices):
    IN_USE = "in_use", _("In use")
    DISUSED = "disused", _("Disused")
    PLANNED = "planned", _("Planned")


class PipePoint(models.Model):
    """A node of a network: a valve, manhole, hydrant, junction, pump… (a census component where one exists)."""

    class Kind(models.TextChoices):
        VALVE = "valve", _("Valve")  # 阀门
        MANHOLE = "manhole", _("Manhole")  # 检查井
        HYDRANT = "hydrant", _("Hydrant")  # 消防栓
        JUNCTION = "junction", _("Junction")  # 三通/节点
        PUMP = "pump", _("Pump")  # 泵站
        OUTLET = "outlet", _("Outlet")  # 排放口
        SERVICE = "service", _("Service connection")  # 用户接入点

    network = models.ForeignKey(PipeNetwork, verbose_name=_("network"), on_delete=models.PROTECT,
                                related_name="points")
    code = models.CharField(_("code"), max_length=32, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, db_index=True)
    geom = models.PointField(_("location"), srid=4326)
    depth_m = models.FloatField(_("depth (m)"), null=True, blank=True)
    customers = models.PositiveIntegerField(_("customers"), default=0,
                                            help_text=_("service connections (households, firms) at this point"))
    component = models.ForeignKey(Component, verbose_name=_("component"), null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="pipe_points")
    status = models.CharField(_("status"), max_length=8, choices=PipeStatus.choices, default=PipeStatus.IN_USE)

    class Meta:
        verbose_name = _("pipe point")
        verbose_name_plural = _("pipe points")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.code}"


class PipeSegment(models.Model):
    """A length of pipe between two points; `source` → `target` is the flow direction in drainage networks.
    The graph questions (assets.pipes) run on these rows with pgRouting: id, source, target, length."""

    network = models.ForeignKey(PipeNetwork, verbose_name=_("network"), on_delete=models.PROTECT,
                                related_name="segments")
    code = models.CharField(_("code"), max_length=32, unique=True)
    source = models.ForeignKey(PipePoint, verbose_name=_("from"), on_delete=models.PROTECT, related_name="+")
    target = models.ForeignKey(PipePoint, verbose_name=_("to"), on_delete=models.PROTECT, related_name="+")
    geom = models.LineStringField(_("route"), srid=4326)
    length_m = models.FloatField(_("length (m)"), editable=False)
    material = models.CharField(_("material"), max_length=30, blank=True)
    diameter_mm = models.PositiveIntegerField(_("diameter (mm)"), null=True, blank=True)
    pressure_class = models.CharField(_("pressure class"), max_length=20, blank=True)
    depth_start_m = models.FloatField(_("depth at the start (m)"), null=True, blank=True)
    depth_end_m = models.FloatField(_("depth at the end (m)"), null=True, blank=True)
    year_laid = models.PositiveSmallIntegerField(_("year laid"), null=True, blank=True)
    owner = models.CharField(_("owner"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=PipeStatus.choices, default=PipeStatus.IN_USE)
    customers = models.PositiveIntegerField(_("customers"), default=0,
                                            help_text=_("service connections along this segment"))

    class Meta:
        verbose_name = _("pipe segment")
        verbose_name_plural = _("pipe segments")
        ordering = ["code"]
        indexes = [models.Index(fields=["network", "source"], name="pipeseg_net_source_idx"),
                   models.Index(fields=["network", "target"], name="pipeseg_net_target_idx")]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        if self.source_id and self.source_id == self.target_id:
            raise ValidationError(_("A segment joins two different points."))
        for end in ("source", "target"):
            point = getattr(self, end)
            if point.network_id != self.network_id:
                raise ValidationError({end: _("The point belongs to another network.")})

    def save(self, *args, **kwargs) -> None:
        self.clean()
        self.length_m = geodesic_length(self.geom)
        super().save(*args, **kwargs)


def geodesic_length(line) -> float:
    """Metres along a WGS84 line (an equirectangular step per vertex pair: exact enough for pipes)."""
    import math

    total = 0.0
    coords = line.coords
    for (x0, y0), (x1, y1) in zip(coords, coords[1:], strict=False):
        lat = math.radians((y0 + y1) / 2)
        total += math.hypot((x1 - x0) * 111_320 * math.cos(lat), (y1 - y0) * 111_320)
    return total
