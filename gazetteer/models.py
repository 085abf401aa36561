"""Roads and addresses (地名地址): door numbers (门牌), buildings (楼栋) and landmarks (兴趣点), each with its
normalised text for search (gazetteer.normalise) and the areas it lies in (located on import)."""

from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GinIndex
from django.utils.translation import gettext_lazy as _

from grids.models import Area


class Road(models.Model):
    """A named road (路, 街, 巷…), in one district: the same name in two districts is two roads."""

    name = models.CharField(_("name"), max_length=100)
    aliases = models.CharField(_("aliases"), max_length=300, blank=True, help_text=_("Separated by |"))
    district = models.ForeignKey(Area, models.PROTECT, null=True, blank=True, related_name="+",
                                 verbose_name=_("district"))
    geom = models.MultiLineStringField(_("geometry"), srid=4326, null=True, blank=True)

    class Meta:
        verbose_name = _("road")
        verbose_name_plural = _("roads")
        constraints = [models.UniqueConstraint(fields=["name", "district"], name="gazetteer_road_name_district")]

    def __str__(self) -> str:
        return self.name


class Address(models.Model):
    class Kind(models.TextChoices):
        DOOR = "door", _("door number")
        BUILDING = "building", _("building")
        POI = "poi", _("landmark")

    code = models.CharField(_("code"), max_length=64, unique=True)  # the source's id, or road+number
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.DOOR)
    road = models.ForeignKey(Road, models.PROTECT, null=True, blank=True, related_name="addresses",
                             verbose_name=_("road"))
    number = models.CharField(_("door number"), max_length=20, blank=True)  # "12", "12-1"
    number_value = models.IntegerField(null=True, blank=True, editable=False)  # 12 for "12-1": the nearest numbers
    sub = models.CharField(_("building, unit"), max_length=40, blank=True)  # "3栋2单元", normalised
    name = models.CharField(_("name"), max_length=100, blank=True)  # a building's or landmark's name
    aliases = models.CharField(_("aliases"), max_length=300, blank=True, help_text=_("Separated by |"))
    text = models.CharField(_("address"), max_length=200)  # as shown: 韶山路12号3栋
    geom = models.PointField(_("point"), srid=4326)
    district = models.ForeignKey(Area, models.PROTECT, null=True, blank=True, related_name="+")
    street = models.ForeignKey(Area, models.PROTECT, null=True, blank=True, related_name="+")
    community = models.ForeignKey(Area, models.PROTECT, null=True, blank=True, related_name="+")
    source = models.CharField(_("source"), max_length=100, blank=True)  # the file it came from

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        indexes = [
            models.Index(fields=["road", "number_value"], name="gazetteer_address_road_number"),
        ]

    def __str__(self) -> str:
        return self.text


class Name(models.Model):
    """A name or alias of a road or of a named address (a building, a landmark), as searched: its characters and
    its sound, each as trigram words (gazetteer.normalise.trigram_text, sound_text). One row per name, so that an
    alias matches on its own and is not drowned by the others."""

    road = models.ForeignKey(Road, models.CASCADE, null=True, related_name="names")
    address = models.ForeignKey(Address, models.CASCADE, null=True, related_name="names")
    text = models.TextField()
    sound = models.TextField()

    class Meta:
        indexes = [GinIndex(fields=["text"], name="gazetteer_name_text_trgm", opclasses=["gin_trgm_ops"]),
                   GinIndex(fields=["sound"], name="gazetteer_name_sound_trgm", opclasses=["gin_trgm_ops"]),
                   # a name said right, or sounding right, is found by equality before any likeness is computed
                   models.Index(fields=["text"], name="gazetteer_name_text"),
                   models.Index(fields=["sound"], name="gazetteer_name_sound")]
        constraints = [models.CheckConstraint(condition=models.Q(road__isnull=True) ^ models.Q(address__isnull=True),
                                              name="gazetteer_name_of_one")]

    def __str__(self) -> str:
        return self.text
