"""Areas (city → district → street → community), unit grid cells, and the bureaus responsible for them.

All geometry is stored in WGS84 (EPSG:4326, which CGCS2000 matches to well under a metre); other datums
are converted on the way in (see grids.importing and grids.gcj02).
"""

from django.conf import settings
from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.db.models import Func, Q
from django.utils.translation import gettext_lazy as _

from . import codes


class Level(models.IntegerChoices):
    CITY = codes.CITY, _("City")
    DISTRICT = codes.DISTRICT, _("District / county")
    STREET = codes.STREET, _("Street / town")
    COMMUNITY = codes.COMMUNITY, _("Community / village")


class Bureau(models.Model):
    """A department responsible for fixing problems (委办局/专业部门), city-wide or of one district."""

    class Kind(models.TextChoices):
        CITY_MANAGEMENT = "city_management", _("Urban management")
        HOUSING = "housing", _("Housing and construction")
        TRANSPORT = "transport", _("Transport")
        ENVIRONMENT = "environment", _("Ecology and environment")
        WATER = "water", _("Water")
        POWER = "power", _("Power supply")
        GAS = "gas", _("Gas")
        LANDSCAPE = "landscape", _("Parks and greenery")
        TELECOM = "telecom", _("Telecommunications")
        POLICE = "police", _("Public security and traffic police")
        FIRE = "fire", _("Fire and rescue")
        NATURAL_RESOURCES = "natural_resources", _("Natural resources and planning")
        MARKET = "market", _("Market regulation")
        STREET_OFFICE = "street_office", _("Street office")
        OTHER = "other", _("Other")

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices, db_index=True)
    district = models.ForeignKey(
        "Area",
        verbose_name=_("district"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="district_bureaus",
        limit_choices_to={"level": Level.DISTRICT, "is_current": True},
        help_text=_("Empty for a city-level bureau."),
    )
    contact_name = models.CharField(_("contact person"), max_length=50, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=30, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    supervisor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("supervisor"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="supervised_bureaus",
                                   help_text=_("Receives the bureau's overdue escalations (督办)."))
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("bureau")
        verbose_name_plural = _("bureaus")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.district_id and self.district.level != Level.DISTRICT:
            raise ValidationError({"district": _("Choose a district, not another level.")})


class Generation(models.Model):
    """A version of the grid (边界版本), as mySociety MapIt's generations: importing new boundaries or
    re-gridding with `--new-generation` makes a new, inactive generation; `activate_generation` makes it
    the one the product uses. Areas and cells carry the range of generations they are valid in
    (generation_low..generation_high, high empty = still valid in the newest), so an unchanged row spans
    generations without being copied and an old generation stays queryable. See grids.generations."""

    created = models.DateTimeField(_("created"), auto_now_add=True)
    active = models.BooleanField(_("active"), default=False)
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("boundary generation")
        verbose_name_plural = _("boundary generations")
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["active"], condition=Q(active=True),
                                               name="generation_one_active")]

    def __str__(self) -> str:
        return f"{self.pk}: {self.description}" if self.description else str(self.pk)


# The active generation's id, computed by the database (migration 0004's function), so that every row written
# without naming a generation — the demo, the benchmarks, the admin — lands in the one in use.
_ACTIVE_GENERATION = Func(function="grids_active_generation", output_field=models.BigIntegerField())


class GenerationQuerySet(models.QuerySet):
    def current(self) -> "GenerationQuerySet":
        """The rows of the active generation: what locating, the map and every list of the product use."""
        return self.filter(is_current=True)

    def in_generation(self, generation: "int | Generation") -> "GenerationQuerySet":
        """The rows valid in one generation (the active one or any other, older or pending)."""
        gid = generation if isinstance(generation, int) else generation.pk
        return self.filter(Q(generation_high__isnull=True) | Q(generation_high__gte=gid), generation_low__lte=gid)


class Versioned(models.Model):
    """The generation range of an area or cell. `is_current` caches "valid in the active generation" (kept by
    grids.generations.activate) so that locating — the hot path — tests one boolean, not a range."""

    generation_low = models.ForeignKey(Generation, verbose_name=_("first generation"), on_delete=models.PROTECT,
                                       related_name="+", db_default=_ACTIVE_GENERATION)
    generation_high = models.ForeignKey(Generation, verbose_name=_("last generation"), on_delete=models.PROTECT,
                                        related_name="+", null=True, blank=True,
                                        help_text=_("Empty: still valid in the newest generation."))
    is_current = models.BooleanField(_("in the active generation"), db_default=True, editable=False)

    objects = GenerationQuerySet.as_manager()

    class Meta:
        abstract = True


class Area(Versioned):
    """One administrative area of the grid hierarchy, with its full code (e.g. street 430302001)."""

    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices, db_index=True)
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    geom = models.MultiPolygonField(_("boundary"), srid=4326)
    bureaus = models.ManyToManyField(Bureau, verbose_name=_("responsible bureaus"), blank=True,
                                     related_name="areas")
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        ordering = ["code"]
        # A code repeats across generations, never within one (grids.generations keeps ranges apart).
        constraints = [
            models.UniqueConstraint(fields=["code", "generation_low"], name="area_code_per_generation"),
            models.UniqueConstraint(fields=["code"], condition=Q(generation_high__isnull=True),
                                    name="area_code_open"),
            models.UniqueConstraint(fields=["code"], condition=Q(is_current=True), name="area_code_current"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        expected_parent = None if self.level == Level.CITY else self.level - 1
        if expected_parent is None and self.parent_id:
            raise ValidationError({"parent": _("A city has no parent area.")})
        if expected_parent is not None:
            if not self.parent_id:
                raise ValidationError({"parent": _("This level needs a parent area.")})
            if self.parent.level != expected_parent:
                raise ValidationError(
                    {"parent": _("The parent must be a %(level)s.") % {"level": Level(expected_parent).label}}
                )
        try:
            codes.validate_code(self.level, self.code, self.parent.code if self.parent_id else None)
        except ValidationError as exc:
            raise ValidationError({"code": exc.messages}) from exc

    def save(self, *args, **kwargs) -> None:
        self.clean()
        super().save(*args, **kwargs)

    def ancestors(self) -> list["Area"]:
        """Areas above this one, nearest first."""
        chain, node = [], self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain


class Cell(Versioned):
    """A unit grid cell (单元网格) of about 10,000 m², the unit every case is located in."""

    code = models.CharField(_("code"), max_length=32)
    community = models.ForeignKey(
        Area,
        verbose_name=_("community"),
        on_delete=models.PROTECT,
        related_name="cells",
        limit_choices_to={"level": Level.COMMUNITY, "is_current": True},
    )
    # Derived from the community on save: cases and filters scope by district and street without joins.
    street = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+", editable=False)
    district = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+", editable=False)
    geom = models.MultiPolygonField(_("boundary"), srid=4326)
    inspectors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("inspectors"), blank=True, related_name="inspected_cells"
    )
    bureaus = models.ManyToManyField(Bureau, verbose_name=_("responsible bureaus"), blank=True,
                                     related_name="cells")
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("unit grid cell")
        verbose_name_plural = _("unit grid cells")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["code", "generation_low"], name="cell_code_per_generation"),
            models.UniqueConstraint(fields=["code"], condition=Q(generation_high__isnull=True),
                                    name="cell_code_open"),
            models.UniqueConstraint(fields=["code"], condition=Q(is_current=True), name="cell_code_current"),
        ]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        if not self.community_id:
            raise ValidationError({"community": _("A cell belongs to a community.")})
        if self.community.level != Level.COMMUNITY:
            raise ValidationError({"community": _("Choose a community, not another level.")})
        try:
            codes.validate_code(codes.CELL, self.code, self.community.code)
        except ValidationError as exc:
            raise ValidationError({"code": exc.messages}) from exc

    def derive_hierarchy(self) -> None:
        street = self.community.parent
        self.street_id, self.district_id = street.pk, street.parent_id

    def save(self, *args, **kwargs) -> None:
        self.clean()
        self.derive_hierarchy()
        if self.pk is not None:
            # A reshaped cell can no longer trust the lattice squares computed for its old shape.
            stored = Cell.objects.filter(pk=self.pk).values_list("geom", flat=True).first()
            if stored is not None and not stored.equals_exact(self.geom, tolerance=0):
                LatticeSquare.objects.filter(cell_id=self.pk).delete()
        super().save(*args, **kwargs)


class Lattice(models.Model):
    """A square lattice in a metric projection that generated cells were cut from.

    Locating a point first computes its lattice square from the coordinates and, where that square lies
    wholly inside one cell, answers without a geometric test; only border squares need one.
    """

    srid = models.PositiveIntegerField(_("projection (EPSG)"))
    size = models.FloatField(_("square side (m)"), help_text=_("in the projection's units (metres)"))

    class Meta:
        verbose_name = _("cell lattice")
        verbose_name_plural = _("cell lattices")
        constraints = [models.UniqueConstraint(fields=["srid", "size"], name="lattice_unique_srid_size")]

    def __str__(self) -> str:
        return f"EPSG:{self.srid} {self.size:g} m"


class LatticeSquare(models.Model):
    """A whole lattice square lying entirely inside one cell.

    Only the squares of the active generation's cells are `active` (locating joins those); a pending
    generation's squares wait inactive, and activation swaps them (grids.generations.activate).
    """

    # (lattice, i, j) packed into one bigint, the single-column key locating joins on (grids.locate).
    I_BITS, J_BITS = 20, 24

    lattice = models.ForeignKey(Lattice, on_delete=models.CASCADE, related_name="squares")
    i = models.IntegerField()
    j = models.IntegerField()
    key = models.BigIntegerField(editable=False)
    cell = models.ForeignKey(Cell, on_delete=models.CASCADE, related_name="lattice_squares")
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key"], condition=Q(active=True),
                                               name="latticesquare_active_key")]

    @classmethod
    def pack(cls, lattice_id: int, i: int, j: int) -> int:
        if not (0 <= i < 1 << cls.I_BITS and 0 <= j < 1 << cls.J_BITS and 0 < lattice_id < 1 << 19):
            raise ValueError(f"lattice square ({lattice_id}, {i}, {j}) out of the packable range")
        return (lattice_id << (cls.I_BITS + cls.J_BITS)) + (i << cls.J_BITS) + j

    def save(self, *args, **kwargs) -> None:
        self.key = self.pack(self.lattice_id, self.i, self.j)
        super().save(*args, **kwargs)
