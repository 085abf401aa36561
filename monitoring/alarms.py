"""Alarms: each sensor's newly stored readings against its thresholds, in the ingest's transaction.

A value past a level for the minimum duration starts an episode (warning or alarm); the episode follows the
value (level changes, peak) and ends when the value comes back past the warning level by the hysteresis.
Reaching the alarm level raises one case for the episode, through incidents' intake (source sensor, the kind's
category, at the sensor's position, registered and routed by the ordinary rules); the case's client id is made
from the episode, and the episode holds the case by a unique key, so a batch redelivered after an ingest restart
never raises a second one. Later level changes and the end go into the case's log (and so the live feed); the
case stays open for the bureau.

A sensor whose episodes come too often (SENSOR_FLAPPING_EPISODES within SENSOR_FLAPPING_WINDOW_S) is flagged
as flapping: its episodes are still recorded, but raise no case. A sensor silent for SENSOR_SILENT_INTERVALS of
its intervals raises one maintenance case to its owner bureau (`check_silent`, run by the scheduler)."""

import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents import intake, lifecycle
from incidents.catalogue import subclass
from incidents.models import Source, Urgency

from .models import AlarmEpisode, Level, Sensor, SensorState, Silence

log = logging.getLogger("citygrid.alarms")

NORMAL = "normal"
_RANK = {NORMAL: 0, Level.WARNING: 1, Level.ALARM: 2}
# The namespace of the client ids of cases raised by sensors: the same episode gives the same id.
CASE_NAMESPACE = uuid.UUID("6f1d2c4e-3b7a-4f0e-9a51-16c17e5a0016")


def classify(sensor: Sensor, value: float, previous: tuple[float, float] | None = None) -> tuple[str, str, bool]:
    """(level, direction, by rate) of a value against the sensor's thresholds — alarm before warning, above before
    below — and, given (minutes since the previous reading, its value), against its rates of change; the worse of
    the two."""
    t = sensor.threshold
    level, direction = NORMAL, ""
    for candidate, above, below in ((Level.ALARM, t("alarm_above"), t("alarm_below")),
                                    (Level.WARNING, t("warn_above"), t("warn_below"))):
        if above is not None and value >= above:
            level, direction = candidate, "above"
            break
        if below is not None and value <= below:
            level, direction = candidate, "below"
            break
    if previous is None or level == Level.ALARM:
        return level, direction, False
    minutes, before = previous
    rate = (value - before) / max(minutes, 1.0)  # a change within less than a minute counts whole
    for candidate, limit in ((Level.ALARM, t("rate_alarm")), (Level.WARNING, t("rate_warn"))):
        # A rate's sign is the way it watches: a pressure's fall (negative), a water level's rise (positive).
        if limit and (rate >= limit if limit > 0 else rate <= limit) and _RANK[candidate] > _RANK[level]:
            return candidate, "above" if limit > 0 else "below", True
    return level, direction, False


def _cleared(sensor: Sensor, episode: AlarmEpisode, value: float) -> bool:
    """Back past the lowest level of the episode's direction by the hysteresis."""
    t = sensor.threshold
    hysteresis = t("hysteresis") or 0.0
    if episode.direction == "above":
        limit = t("warn_above") if t("warn_above") is not None else t("alarm_above")
        return limit is None or value < limit - hysteresis
    limit = t("warn_below") if t("warn_below") is not None else t("alarm_below")
    return limit is None or value > limit + hysteresis


def on_stored(rows: list[tuple[int, datetime, float]]) -> None:
    """The ingest's hook: readings just stored, (sensor id, time, value), in its transaction."""
    by_sensor: dict[int, list[tuple[datetime, float]]] = defaultdict(list)
    for sensor_id, time, value in rows:
        by_sensor[sensor_id].append((time, value))
    # Locked in id order, as every ingesting process does: two of them cannot deadlock, and one sensor's state
    # is advanced by one at a time.
    # The position (a geometry to decode) and the texts are read only for the few sensors that raise a case.
    sensors = list(Sensor.objects.select_for_update(of=("self",)).select_related("kind").filter(pk__in=by_sensor)
                   .defer("position", "name", "watched_object", "mqtt_hash").order_by("pk"))
    # Open episodes and silences of the whole batch in two queries, and the sensors' new state in one UPDATE:
    # a batch of thousands of sensors costs a few statements, not a few per sensor.
    episodes = {e.sensor_id: e for e in AlarmEpisode.objects.filter(sensor_id__in=by_sensor, ended_at__isnull=True)
                .select_related("case")}
    silences = {s.sensor_id: s for s in Silence.objects.filter(sensor_id__in=by_sensor, ended_at__isnull=True)
                .select_related("case", "sensor")}
    for sensor in sensors:
        _advance(sensor, sorted(by_sensor[sensor.pk]), episodes.get(sensor.pk), silences.get(sensor.pk))
    _save_states(sensors)


_SAVE_STATES = """
UPDATE monitoring_sensor s SET last_time = u.last_time, last_value = u.last_value, state = u.state,
    pending_level = u.pending_level, pending_since = u.pending_since, flapping = u.flapping
FROM unnest(%s::integer[], %s::timestamptz[], %s::float8[], %s::varchar[], %s::varchar[], %s::timestamptz[],
            %s::boolean[]) AS u(id, last_time, last_value, state, pending_level, pending_since, flapping)
WHERE s.id = u.id
"""


def _save_states(sensors: list[Sensor]) -> None:
    from django.db import connection

    if not sensors:
        return
    columns = ("pk", "last_time", "last_value", "state", "pending_level", "pending_since", "flapping")
    with connection.cursor() as cur:
        cur.execute(_SAVE_STATES, [[getattr(s, c) for s in sensors] for c in columns])


def _advance(sensor: Sensor, readings: list[tuple[datetime, float]], episode: AlarmEpisode | None,
             silence: Silence | None) -> None:
    for time, value in readings:
        if sensor.last_time is not None and time <= sensor.last_time:
            continue  # a late or repeated reading is kept, but does not move the state back in time
        previous = None
        if sensor.last_time is not None and sensor.last_value is not None:
            previous = ((time - sensor.last_time).total_seconds() / 60, sensor.last_value)
        sensor.last_time, sensor.last_value = time, value
        if silence is not None:
            _end_silence(silence, time)
            silence = None
        level, direction, by_rate = classify(sensor, value, previous)
        if episode is not None:
            episode = _follow(sensor, episode, level, direction, time, value)
            continue
        if level == NORMAL:
            sensor.pending_level, sensor.pending_since = "", None
            continue
        if not sensor.pending_since:
            sensor.pending_since = time
        if _RANK[level] > _RANK.get(sensor.pending_level, 0):
            sensor.pending_level = level
        # A step change is over in one reading: a rate starts its episode at once.
        min_duration = timedelta(seconds=0 if by_rate else sensor.threshold("min_duration_s") or 0)
        if time - sensor.pending_since >= min_duration:
            episode = _start(sensor, level, direction, time, value)
    sensor.state = (episode.level if episode is not None else SensorState.NORMAL)


def _start(sensor: Sensor, level: str, direction: str, time: datetime, value: float) -> AlarmEpisode:
    started = sensor.pending_since or time
    window = timedelta(seconds=settings.SENSOR_FLAPPING_WINDOW_S)
    recent = AlarmEpisode.objects.filter(sensor=sensor, started_at__gte=started - window).count()
    sensor.flapping = recent + 1 >= settings.SENSOR_FLAPPING_EPISODES
    episode = AlarmEpisode.objects.create(
        sensor=sensor, level=level, peak_level=level, direction=direction, started_at=started, peak_value=value,
        peak_at=time, changes=[{"at": time.isoformat(), "level": level, "value": value}])
    sensor.pending_level, sensor.pending_since = "", None
    if level == Level.ALARM:
        _raise_case(sensor, episode)
    return episode


def _follow(sensor: Sensor, episode: AlarmEpisode, level: str, direction: str, time: datetime,
            value: float) -> AlarmEpisode | None:
    worse = value > episode.peak_value if episode.direction == "above" else value < episode.peak_value
    if worse:
        episode.peak_value, episode.peak_at = value, time
    # Still past a level (or changing too fast) the episode's way: not over, whatever the value says.
    if (level == NORMAL or direction != episode.direction) and _cleared(sensor, episode, value):
        episode.ended_at = time
        episode.changes = [*episode.changes, {"at": time.isoformat(), "level": "end", "value": value}]
        episode.save()
        if episode.case_id:
            lifecycle.system_note(episode.case, action="sensor_clear", note=_(
                "Sensor %(code)s back to normal at %(value)s %(unit)s; peak %(peak)s %(unit)s.")
                % {"code": sensor.code, "value": _fmt(value), "peak": _fmt(episode.peak_value),
                   "unit": sensor.kind.unit})
        return None
    if level != NORMAL and direction == episode.direction and level != episode.level:
        episode.level = level
        if _RANK[level] > _RANK[episode.peak_level]:
            episode.peak_level = level
        episode.changes = [*episode.changes, {"at": time.isoformat(), "level": level, "value": value}]
        if level == Level.ALARM and episode.case_id is None:
            episode.save()
            _raise_case(sensor, episode)
        elif episode.case_id:
            lifecycle.system_note(episode.case, action="sensor_level", note=_(
                "Sensor %(code)s now at %(level)s level: %(value)s %(unit)s.")
                % {"code": sensor.code, "level": Level(level).label, "value": _fmt(value), "unit": sensor.kind.unit})
    elif episode.level == Level.ALARM and episode.case_id is None and not sensor.flapping:
        episode.save()
        _raise_case(sensor, episode)  # an earlier try failed (logged): try again
    episode.save()
    return episode


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _urgency(category, emergency: bool) -> str:
    allowed = getattr(category, "urgencies", frozenset()) or frozenset(Urgency.values)
    for urgency in ((Urgency.EMERGENCY, Urgency.URGENT) if emergency else (Urgency.URGENT, Urgency.NORMAL)):
        if urgency in allowed:
            return urgency
    return next(iter(sorted(allowed)))


def _raise_case(sensor: Sensor, episode: AlarmEpisode) -> None:
    """The episode's one case, through intake (registered by the system, routed as any case); flapping sensors
    raise none, and a sensor outside the city's jurisdiction none either (logged)."""
    if episode.case_id is not None or sensor.flapping:
        return
    kind = sensor.kind
    category = subclass(kind.category)
    if category is None:
        log.error("alarm of %s: the kind's category %s is not in the catalogue; no case", sensor.code, kind.category)
        return
    t = sensor.threshold
    limit = t("alarm_above") if episode.direction == "above" else t("alarm_below")
    description = _("Sensor %(code)s (%(kind)s%(object)s): %(value)s %(unit)s, alarm level %(limit)s %(unit)s.") % {
        "code": sensor.code, "kind": kind.name, "object": f", {sensor.watched_object}" if sensor.watched_object else "",
        "value": _fmt(episode.peak_value), "unit": kind.unit, "limit": _fmt(limit) if limit is not None else "—"}
    report = intake.Report(lon=sensor.position.x, lat=sensor.position.y, category=kind.category, source=Source.SENSOR,
                           client_uuid=uuid.uuid5(CASE_NAMESPACE, f"episode:{episode.pk}"),
                           description=description, urgency=_urgency(category, kind.emergency),
                           address=(sensor.name or sensor.watched_object)[:200])
    try:
        with transaction.atomic():
            made = intake.submit(report)
            case = made.case
            if made.created:
                case = lifecycle.system_register(case, note=_("Raised by sensor %(code)s.") % {"code": sensor.code})
    except intake.IntakeError as exc:
        log.error("alarm of %s raised no case: %s", sensor.code, exc.errors)
        return
    except Exception:  # noqa: BLE001 - routing or dispatch failing must not stall the batch, nor every batch after
        # it (the broker would redeliver the same unacknowledged readings forever): the readings and the episode
        # are kept, and the next reading of the episode at the alarm level tries the case again.
        log.exception("alarm of %s: raising its case failed; retried at the next reading", sensor.code)
        return
    episode.case = case
    episode.save(update_fields=["case"])


def check_silent(now: datetime | None = None) -> int:
    """Sensors that missed SENSOR_SILENT_INTERVALS of their intervals: one maintenance case each, to the owner
    bureau, until they are heard again. Returns how many fell silent now."""
    now = now or timezone.now()
    found = 0
    already = Silence.objects.filter(ended_at__isnull=True).values("sensor_id")
    candidates = (Sensor.objects.filter(active=True, last_time__isnull=False).exclude(pk__in=already)
                  .select_related("kind", "owner"))
    for sensor in candidates:
        if now - sensor.last_time < timedelta(seconds=sensor.interval_s * settings.SENSOR_SILENT_INTERVALS):
            continue
        with transaction.atomic():
            locked = Sensor.objects.select_for_update().select_related("kind", "owner").get(pk=sensor.pk)
            if Silence.objects.filter(sensor=locked, ended_at__isnull=True).exists():
                continue
            silence = Silence.objects.create(sensor=locked, started_at=locked.last_time)
            locked.state = SensorState.SILENT
            locked.save(update_fields=["state"])
            silence.case = _maintenance_case(locked, silence)
            silence.save(update_fields=["case"])
            found += 1
    return found


def _maintenance_case(sensor: Sensor, silence: Silence):
    # Filed as a device fault (监测设备故障), not under what the sensor watches: a silent level gauge is no flood. A
    # catalogue without that subclass falls back to the kind's own.
    code = settings.SENSOR_MAINTENANCE_CATEGORY
    category = subclass(code)
    if category is None:
        code = sensor.kind.category
        category = subclass(code)
    if category is None:
        return None
    report = intake.Report(
        lon=sensor.position.x, lat=sensor.position.y, category=code, source=Source.SENSOR,
        client_uuid=uuid.uuid5(CASE_NAMESPACE, f"silence:{silence.pk}"), urgency=_urgency(category, False),
        description=_("Maintenance: sensor %(code)s (%(kind)s) silent since %(since)s; it reports every %(n)d s.")
        % {"code": sensor.code, "kind": sensor.kind.name, "n": sensor.interval_s,
           "since": timezone.localtime(silence.started_at).strftime("%Y-%m-%d %H:%M")},
        address=(sensor.name or sensor.watched_object)[:200])
    try:
        case = intake.submit(report).case
    except intake.IntakeError as exc:
        log.error("silent sensor %s raised no case: %s", sensor.code, exc.errors)
        return None
    note = _("Sensor %(code)s silent: maintenance by its owner.") % {"code": sensor.code}
    case = lifecycle.system_register(case, note=note)
    case.refresh_from_db()
    if case.status == "registered" and sensor.owner.active:  # routing did not dispatch it: to the owner
        case = lifecycle.system_dispatch(case, bureau=sensor.owner, note=note)
    return case


def _end_silence(silence: Silence, time: datetime) -> None:
    silence.ended_at = time
    silence.save(update_fields=["ended_at"])
    if silence.case_id:
        lifecycle.system_note(silence.case, action="sensor_back", note=_("Sensor %(code)s reports again.")
                              % {"code": silence.sensor.code})
