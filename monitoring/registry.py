"""The sensor registry's rules: what a sensor looks like to the API, and the all-or-nothing import from a CSV
file (lon/lat columns) or any GIS file GDAL reads (point features in any CRS, through the grid importer's
readers, as the census is imported)."""

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils.translation import gettext as _

from grids.models import Bureau

from .models import CODE_RE, Sensor, SensorKind, is_reserved_code

CSV_COLUMNS = ("code", "name", "kind", "lon", "lat", "owner", "interval_s", "active", "watched_object")
REQUIRED = ("code", "kind", "lon", "lat", "owner")


class SensorImportError(ValueError):
    """An import refused whole: one message per faulty line."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors[:5]) + (f" (+{len(errors) - 5})" if len(errors) > 5 else ""))
        self.errors = errors


def summary(sensor: Sensor, *, detail: bool = False) -> dict:
    """A sensor as a GeoJSON feature (the console's layer and the API)."""
    kind = sensor.kind
    props = {"code": sensor.code, "name": sensor.name, "kind": kind.code, "kind_name": kind.name, "unit": kind.unit,
             "state": sensor.state, "state_name": sensor.get_state_display(), "active": sensor.active,
             "flapping": sensor.flapping, "last_value": sensor.last_value,
             "last_time": _local(sensor.last_time),
             "owner": sensor.owner.code, "owner_name": sensor.owner.name, "interval_s": sensor.interval_s,
             "district": sensor.district.code if sensor.district else None,
             "cell": sensor.cell.code if sensor.cell else None, "watched_object": sensor.watched_object}
    if detail:
        props["thresholds"] = {name: sensor.threshold(name) for name in Sensor.THRESHOLD_FIELDS}
        props["physical_range"] = [kind.physical_min, kind.physical_max]
        props["episodes"] = [episode_summary(e) for e in sensor.episodes.select_related("case")[:20]]
    return {"type": "Feature", "id": sensor.code,
            "geometry": {"type": "Point", "coordinates": [sensor.position.x, sensor.position.y]},
            "properties": props}


def episode_summary(e) -> dict:
    return {"id": e.pk, "level": e.level, "peak_level": e.peak_level, "direction": e.direction,
            "started_at": _local(e.started_at), "ended_at": _local(e.ended_at),
            "peak_value": e.peak_value, "peak_at": _local(e.peak_at), "changes": e.changes,
            "case": e.case.number if e.case_id else None}


def _local(moment) -> str | None:
    """In the city's time zone, as the case API gives times (pages show them as they come)."""
    from django.utils import timezone

    return timezone.localtime(moment).isoformat() if moment else None


def _float(value: str, field: str, errors: list[str], line: int) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        errors.append(_("line %(line)d: %(field)s is not a number") % {"line": line, "field": field})
        return None


def parse_rows(rows: Iterable[dict], first_line: int = 2) -> list[Sensor]:
    """Sensors from rows of a file (a CSV line, or a GIS feature's attributes with its `position`), checked
    whole; SensorImportError listing every faulty line if any is (a GIS file's "line N" is its feature N)."""
    kinds = {k.code: k for k in SensorKind.objects.all()}
    bureaus = {b.code: b for b in Bureau.objects.filter(active=True)}
    errors: list[str] = []
    sensors: list[Sensor] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=first_line):
        position = row.pop("position", None)
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if position is not None:
            row["position"] = position
        missing = [c for c in REQUIRED if not row.get(c) and not (c in ("lon", "lat") and position is not None)]
        if missing:
            errors.append(_("line %(line)d: missing %(fields)s") % {"line": line, "fields": ", ".join(missing)})
            continue
        code = row["code"]
        if not CODE_RE.match(code):
            errors.append(_("line %(line)d: code %(code)s may hold only letters, digits, '.', '_' and '-'")
                          % {"line": line, "code": code[:40]})
        elif is_reserved_code(code):
            errors.append(_("line %(line)d: code %(code)s is reserved for the broker's own accounts")
                          % {"line": line, "code": code})
        if code in seen:
            errors.append(_("line %(line)d: code %(code)s twice in the file") % {"line": line, "code": code})
        seen.add(code)
        kind = kinds.get(row["kind"])
        if kind is None:
            errors.append(_("line %(line)d: unknown kind %(kind)s") % {"line": line, "kind": row["kind"][:32]})
        owner = bureaus.get(row["owner"])
        if owner is None:
            errors.append(_("line %(line)d: unknown bureau %(code)s") % {"line": line, "code": row["owner"][:32]})
        position = row.get("position")  # a GIS file's geometry, already in WGS84
        if position is None:
            lon, lat = _float(row["lon"], "lon", errors, line), _float(row["lat"], "lat", errors, line)
            if lon is not None and lat is not None and not (-180 <= lon <= 180 and -90 <= lat <= 90):
                errors.append(_("line %(line)d: not a WGS84 longitude/latitude") % {"line": line})
            elif lon is not None and lat is not None:
                position = Point(lon, lat, srid=4326)
        elif position.geom_type != "Point":
            errors.append(_("line %(line)d: a sensor is a point, not a %(type)s")
                          % {"line": line, "type": position.geom_type})
        interval = 60
        if row.get("interval_s"):
            if not row["interval_s"].isdigit() or not 1 <= int(row["interval_s"]) <= 86400:
                errors.append(_("line %(line)d: interval_s must be whole seconds from 1 to 86400") % {"line": line})
            else:
                interval = int(row["interval_s"])
        active = row.get("active", "1").lower() not in ("0", "false", "no", "n", "否")
        for name, limit in (("name", 100), ("watched_object", 200)):
            if len(row.get(name, "")) > limit:
                errors.append(_("line %(line)d: %(field)s longer than %(n)d")
                              % {"line": line, "field": name, "n": limit})
        if not errors:
            sensors.append(Sensor(code=code, name=row.get("name", ""), kind=kind, owner=owner, interval_s=interval,
                                  active=active, watched_object=row.get("watched_object", ""),
                                  position=position))
    if not sensors and not errors:
        errors.append(_("the file holds no sensors"))
    if errors:
        raise SensorImportError(errors)
    return sensors


def import_csv(text: str) -> tuple[int, int]:
    """Create or update the sensors of a CSV text, all or none: (created, updated)."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not set(REQUIRED) <= {f.strip() for f in reader.fieldnames}:
        raise SensorImportError([_("the header must name %(columns)s") % {"columns": ", ".join(CSV_COLUMNS)}])
    return _save(parse_rows(reader))


GIS_FIELDS = tuple(c for c in CSV_COLUMNS if c not in ("lon", "lat"))


def import_gis(path: Path, *, srid: int | None = None, from_gcj02: bool = False,
               layer_name: str | None = None) -> tuple[int, int]:
    """Create or update the sensors of a GIS file's point layer (GeoJSON, GeoPackage, Shapefile…, any CRS; GCJ-02
    shifted back when asked), all or none: (created, updated). Attributes as the CSV's columns, lon/lat aside."""
    from assets.importing import read_features
    from grids.importing import ImportFailed, ImportReport, open_layer, source_srs

    try:
        _source, layer = open_layer(Path(path), layer_name)
        srs = source_srs(layer, Path(path), srid)
    except ImportFailed as exc:
        raise SensorImportError([str(exc)]) from exc
    present = {f.lower(): f for f in layer.fields}
    missing = [c for c in ("code", "kind", "owner") if c not in present]
    if missing:
        raise SensorImportError([_("the layer must have the fields %(columns)s") % {"columns": ", ".join(GIS_FIELDS)}])
    mapping = {c: present[c] for c in GIS_FIELDS if c in present}
    report = ImportReport(level="sensors")
    rows = [{**f.values, "position": f.geom}
            for f in read_features(layer, srs, mapping, from_gcj02=from_gcj02, report=report)]
    errors = [_("feature %(n)d (%(label)s): %(problem)s") % {"n": p.index, "label": p.label, "problem": p.message}
              for p in report.rejected]
    if errors:
        raise SensorImportError(errors)
    return _save(parse_rows(rows, first_line=1))


def _save(sensors: list[Sensor]) -> tuple[int, int]:
    created = updated = 0
    with transaction.atomic():
        existing = {s.code: s for s in Sensor.objects.filter(code__in=[s.code for s in sensors])}
        for new in sensors:
            old = existing.get(new.code)
            if old is None:
                new.save()
                created += 1
                continue
            for field in ("name", "kind", "owner", "interval_s", "active", "watched_object", "position"):
                setattr(old, field, getattr(new, field))
            old.save()
            updated += 1
    if created + updated >= 100:
        # The ingest's statement joins each batch to the sensors: on the statistics of an empty registry the
        # planner scans it for every reading (seconds a batch). Autovacuum would refresh them in a minute, if on.
        from citygrid.dbroles import analyze

        analyze("monitoring_sensor")
    return created, updated


def alarms_by_kind_and_district(sensors, start, end) -> list[dict]:
    """Alarm episodes that started in [start, end) on these sensors, by kind and district: how many, how many
    reached the alarm level, how many raised a case, how many are still going (the leader's dashboard)."""
    from django.db.models import Count, Q

    from .models import AlarmEpisode

    rows = (AlarmEpisode.objects.filter(sensor__in=sensors, started_at__gte=start, started_at__lt=end)
            .values("sensor__kind__code", "sensor__kind__name", "sensor__district__code", "sensor__district__name")
            .annotate(episodes=Count("id"), alarms=Count("id", filter=Q(peak_level="alarm")),
                      cases=Count("case"), ongoing=Count("id", filter=Q(ended_at__isnull=True)))
            .order_by("-alarms", "-episodes", "sensor__kind__code", "sensor__district__code"))
    return [{"kind": r["sensor__kind__code"], "kind_name": r["sensor__kind__name"],
             "district": r["sensor__district__code"], "district_name": r["sensor__district__name"] or "—",
             "episodes": r["episodes"], "alarms": r["alarms"], "cases": r["cases"], "ongoing": r["ongoing"]}
            for r in rows]
