"""Lifeline monitoring (城市生命线): the sensor registry, alarm episodes and the ingest's counters.

Readings themselves are not a Django model: they live in `monitoring_reading`, a table partitioned by month
(migration 0003, raw SQL), written by the ingest in batches and read through `monitoring.readings`."""

import hashlib
import re
import secrets

from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grids.models import Area, Bureau, Cell
from incidents.models import Case

# A sensor's code is also its MQTT user name and the last level of its topic: no '/', '+', '#' or spaces.
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


GATEWAY_USER_PREFIX = "gateway-"  # the broker accounts of gateways: gateway-<code>


def is_reserved_code(value: str) -> bool:
    """A code that is another broker account's name — the ingest's, or a gateway's — would give the device
    that account's rights in the ACL (the ingest reads everything, a gateway writes for its bureau)."""
    from django.conf import settings

    lowered = (value or "").lower()
    return lowered == settings.MQTT_INGEST_USER.lower() or lowered.startswith(GATEWAY_USER_PREFIX)


def validate_code(value: str) -> None:
    if not CODE_RE.match(value or ""):
        raise ValidationError(_("Letters, digits, '.', '_' and '-' only, at most 40."))
    if is_reserved_code(value):
        raise ValidationError(_("This code is reserved for the broker's own accounts (the ingest, gateways)."))


class Thresholds(models.Model):
    """Warning and alarm levels, above and/or below; how long a level must hold before an episode starts, and
    how far back past the level a value must come before it ends (hysteresis); and how fast a value may change."""

    warn_above = models.FloatField(_("warning above"), null=True, blank=True)
    alarm_above = models.FloatField(_("alarm above"), null=True, blank=True)
    warn_below = models.FloatField(_("warning below"), null=True, blank=True)
    alarm_below = models.FloatField(_("alarm below"), null=True, blank=True)
    min_duration_s = models.PositiveIntegerField(_("minimum duration (s)"), null=True, blank=True)
    hysteresis = models.FloatField(_("hysteresis"), null=True, blank=True)
    # Rate of change per minute (a change within less than a minute counts whole), its sign the way it watches: a
    # water main's pressure falling 0.3 MPa at once (negative) is a burst before it is a low pressure, a manhole
    # filling fast (positive) a flood before it is high. No minimum duration applies.
    rate_warn = models.FloatField(_("warning at a change per minute of"), null=True, blank=True,
                                  help_text=_("negative for a fall, positive for a rise"))
    rate_alarm = models.FloatField(_("alarm at a change per minute of"), null=True, blank=True,
                                   help_text=_("negative for a fall, positive for a rise"))

    THRESHOLD_FIELDS = ("warn_above", "alarm_above", "warn_below", "alarm_below", "min_duration_s", "hysteresis",
                        "rate_warn", "rate_alarm")

    class Meta:
        abstract = True


class SensorKind(Thresholds):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=60)
    unit = models.CharField(_("unit"), max_length=16)
    physical_min = models.FloatField(_("physical minimum"))
    physical_max = models.FloatField(_("physical maximum"))
    category = models.CharField(_("case category"), max_length=8,
                                help_text=_("The catalogue subclass a case from this kind is filed under."))
    emergency = models.BooleanField(_("emergency"), default=False,
                                    help_text=_("An alarm of this kind raises an emergency case."))

    class Meta:
        verbose_name = _("sensor kind")
        verbose_name_plural = _("sensor kinds")
        ordering = ["code"]

    def __str__(self) -> str:
        return str(self.name)

    def clean(self) -> None:
        if self.physical_min is not None and self.physical_max is not None and self.physical_min >= self.physical_max:
            raise ValidationError({"physical_max": _("Must be above the physical minimum.")})


class SensorState(models.TextChoices):
    UNKNOWN = "unknown", _("No reading yet")
    NORMAL = "normal", _("In range")
    WARNING = "warning", _("Warning")
    ALARM = "alarm", _("Alarm")
    SILENT = "silent", _("Silent")
    INACTIVE = "inactive", _("Off")


class Sensor(Thresholds):
    """A device in the field. Its thresholds, where set, override its kind's."""

    code = models.CharField(_("code"), max_length=40, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=100, blank=True)
    kind = models.ForeignKey(SensorKind, verbose_name=_("kind"), on_delete=models.PROTECT, related_name="sensors")
    position = models.PointField(_("position"), srid=4326)
    cell = models.ForeignKey(Cell, verbose_name=_("cell"), null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+", editable=False)
    district = models.ForeignKey(Area, verbose_name=_("district"), null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", editable=False)
    owner = models.ForeignKey(Bureau, verbose_name=_("owner bureau"), on_delete=models.PROTECT,
                              related_name="sensors")
    interval_s = models.PositiveIntegerField(_("reporting interval (s)"), default=60)
    active = models.BooleanField(_("active"), default=True)
    watched_object = models.CharField(_("watched object"), max_length=200, blank=True,
                                      help_text=_("The pipe segment, manhole, bridge or cable it watches."))
    # The device's broker password as mosquitto_passwd hashed it: the broker's password file is written from
    # these, and the password itself is shown once when it is issued.
    mqtt_hash = models.CharField(max_length=300, blank=True, editable=False)
    # What the alarm engine knows of it (monitoring.alarms keeps these).
    state = models.CharField(_("state"), max_length=10, choices=SensorState.choices, default=SensorState.UNKNOWN)
    last_value = models.FloatField(_("last value"), null=True, blank=True, editable=False)
    last_time = models.DateTimeField(_("last reading"), null=True, blank=True, editable=False)
    # Since when the value has been past a level without an episode yet (minimum duration), and which level.
    pending_level = models.CharField(max_length=10, blank=True, editable=False)
    pending_since = models.DateTimeField(null=True, blank=True, editable=False)
    flapping = models.BooleanField(_("flapping"), default=False, editable=False)

    class Meta:
        verbose_name = _("sensor")
        verbose_name_plural = _("sensors")
        ordering = ["code"]
        indexes = [models.Index(fields=["district", "state"], name="sensor_district_state_idx")]

    def __str__(self) -> str:
        return self.code

    @property
    def topic(self) -> str:
        return topic_for(self.code)

    def threshold(self, name: str):
        own = getattr(self, name)
        return own if own is not None else getattr(self.kind, name)

    def save(self, *args, **kwargs) -> None:
        self.locate()
        super().save(*args, **kwargs)

    def locate(self) -> None:
        """The cell and district of the position (grids' lookup); none outside the grid."""
        from grids.locate import locate_many

        found = locate_many([(self.position.x, self.position.y)])[0] if self.position else None
        self.cell_id = found.cell_id if found else None
        district = found.areas.get("district") if found else None
        self.district_id = district.id if district else None


TOPIC_PREFIX = "citygrid/sensors/"


def topic_for(code: str) -> str:
    return f"{TOPIC_PREFIX}{code}"


class Level(models.TextChoices):
    WARNING = "warning", _("Warning")
    ALARM = "alarm", _("Alarm")


class AlarmEpisode(models.Model):
    """One alarm of one sensor from start to end, whatever its level did meanwhile; at most one open per sensor.
    The case it raised is unique: the same episode never raises a second one, also across an ingest restart."""

    sensor = models.ForeignKey(Sensor, verbose_name=_("sensor"), on_delete=models.PROTECT, related_name="episodes")
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    peak_level = models.CharField(_("highest level"), max_length=10, choices=Level.choices)
    direction = models.CharField(max_length=5)  # "above" or "below"
    started_at = models.DateTimeField(_("started"))
    peak_value = models.FloatField(_("peak"))
    peak_at = models.DateTimeField(_("peak at"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    changes = models.JSONField(_("level changes"), default=list)  # [{"at", "level", "value"}]
    case = models.OneToOneField(Case, verbose_name=_("case"), null=True, blank=True, on_delete=models.PROTECT,
                                related_name="alarm_episode", db_constraint=False)

    class Meta:
        verbose_name = _("alarm episode")
        verbose_name_plural = _("alarm episodes")
        ordering = ["-started_at"]
        constraints = [models.UniqueConstraint(fields=["sensor"], condition=Q(ended_at__isnull=True),
                                               name="one_open_episode_per_sensor")]

    def __str__(self) -> str:
        return f"{self.sensor_id} {self.level} {self.started_at:%Y-%m-%d %H:%M}"


class Silence(models.Model):
    """A sensor that stopped reporting for N intervals; its maintenance case is raised once."""

    sensor = models.ForeignKey(Sensor, verbose_name=_("sensor"), on_delete=models.PROTECT, related_name="silences")
    started_at = models.DateTimeField(_("last heard"))
    ended_at = models.DateTimeField(_("heard again"), null=True, blank=True)
    case = models.OneToOneField(Case, verbose_name=_("case"), null=True, blank=True, on_delete=models.PROTECT,
                                related_name="sensor_silence", db_constraint=False)

    class Meta:
        verbose_name = _("silence")
        verbose_name_plural = _("silences")
        constraints = [models.UniqueConstraint(fields=["sensor"], condition=Q(ended_at__isnull=True),
                                               name="one_open_silence_per_sensor")]


class Rejection(models.Model):
    """Readings the ingest refused, counted per day and reason (the last example kept for whoever looks)."""

    class Reason(models.TextChoices):
        UNKNOWN_SENSOR = "unknown_sensor", _("Unknown or inactive sensor")
        MALFORMED = "malformed", _("Malformed reading")
        OUT_OF_RANGE = "out_of_range", _("Outside the kind's physical range")
        FUTURE = "future", _("Time too far in the future")
        TOO_OLD = "too_old", _("Time older than raw readings are kept")

    day = models.DateField(_("day"))
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    count = models.PositiveBigIntegerField(_("count"), default=0)
    last_example = models.CharField(_("last example"), max_length=300, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("refused readings")
        verbose_name_plural = _("refused readings")
        constraints = [models.UniqueConstraint(fields=["day", "reason"], name="rejection_day_reason")]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Gateway(models.Model):
    """A gateway that cannot speak MQTT and posts batches over HTTP with its own token (only its hash kept). It
    may submit readings for its bureau's sensors, or every sensor when it has no bureau."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    bureau = models.ForeignKey(Bureau, verbose_name=_("bureau"), null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    mqtt_hash = models.CharField(max_length=300, blank=True, editable=False)  # the same key, hashed for mosquitto
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("gateway")
        verbose_name_plural = _("gateways")

    def __str__(self) -> str:
        return self.code

    def set_new_key(self) -> str:
        key = secrets.token_urlsafe(32)
        self.key_hash = hash_key(key)
        return key
