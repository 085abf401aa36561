"""Importing a component census from any GIS file GDAL reads, in any CRS, through the grid importer's
readers (grids.importing): all or nothing — every feature is read, transformed to WGS84, located and checked
before anything is written; one rejected feature imports nothing, and the report says which and why.
Codes already in the census are refused, or updated with `update=True` (each update recorded)."""

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.contrib.gis.gdal import CoordTransform, GDALException, SpatialReference
from django.contrib.gis.geos import GEOSGeometry
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from grids.importing import (
    FeatureRejected,
    ImportFailed,
    ImportReport,
    Problem,
    feature_geometry,
    field_value,
    open_layer,
    source_srs,
)
from grids.locate import locate_many
from grids.models import Bureau
from grids.projection import STORAGE_SRID

from . import codes
from .models import Component, ComponentLog, Status

# Values as censuses write them: the standard's Chinese words as well as this product's keys.
STATUS_WORDS = {**{s.value: s.value for s in Status}, "完好": "good", "破损": "damaged", "丢失": "missing",
                "占用": "occupied", "废弃": "abandoned"}
ACCURACY_WORDS = {"A": "A", "B": "B", "C": "C", "a": "A", "b": "B", "c": "C"}
FIELDS = ("code", "subclass", "name", "status", "accuracy", "owner", "maintainer", "bureau", "survey_date")
LOCATE_BATCH = 50_000


@dataclass
class Feature:
    index: int
    label: str
    values: dict
    geom: GEOSGeometry


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_features(layer, srs: SpatialReference, mapping: dict[str, str], *, from_gcj02: bool,
                  report: ImportReport, label_field: str = "code",
                  progress: Callable[[int, int], None] | None = None) -> Iterator[Feature]:
    """Every feature as WGS84 geometry and the mapped attributes; rejections go to the report."""
    transform = CoordTransform(srs, SpatialReference(STORAGE_SRID))
    total = len(layer)
    step = max(total // 20, 10_000)
    for index, feature in enumerate(layer, start=1):
        if progress and index % step == 0:
            progress(index, total)
        report.read += 1
        values = {}
        for key, column in mapping.items():
            raw = field_value(feature, column)
            values[key] = raw if isinstance(raw, dt.date) else _text(raw)
        label = values.get(label_field) or "no code"
        try:
            geom = feature_geometry(feature, transform, from_gcj02)
        except FeatureRejected as exc:
            report.rejected.append(Problem(index, label, str(exc)))
            continue
        minx, miny, maxx, maxy = geom.extent
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            report.rejected.append(Problem(index, label, f"coordinates ({minx:.6g}, {miny:.6g}) are not "
                                           "longitude/latitude after transforming: wrong CRS (pass --srid)"))
            continue
        yield Feature(index, label, values, geom)


def _component_subclasses() -> set[str] | None:
    try:
        category = apps.get_model("incidents", "Category")
    except LookupError:
        return None
    return set(category.objects.filter(kind="component", parent__isnull=False).values_list("code", flat=True))


def _parse_date(value) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date) or value in ("", None):
        return value or None
    return dt.date.fromisoformat(str(value)[:10].replace("/", "-"))


@transaction.atomic
def import_components(path: str | Path, *, mapping: dict[str, str] | None = None, srid: int | None = None,
                      from_gcj02: bool = False, update: bool = False, layer_name: str | None = None,
                      actor=None, progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import every feature of a layer as components; all or nothing. Raises ImportFailed with the report."""
    mapping = {key: key for key in FIELDS} | (mapping or {})
    path = Path(path)
    report = ImportReport(level="components")
    _source, layer = open_layer(path, layer_name)
    srs = source_srs(layer, path, srid)
    known_subclasses = _component_subclasses()
    bureaus = {b.code: b.pk for b in Bureau.objects.all()}
    present = {f.lower(): f for f in layer.fields}
    mapping = {k: present.get(v.lower(), v) for k, v in mapping.items() if v.lower() in present}
    for required in ("code", "subclass"):
        if required not in mapping:
            raise ImportFailed(f"{path}: no {required} field (columns: {', '.join(layer.fields)}); "
                               f"map one with --{required.replace('_', '-')}-field")

    parsed: list[tuple[Feature, dict]] = []
    seen: set[str] = set()
    try:
        for feature in read_features(layer, srs, mapping, from_gcj02=from_gcj02, report=report,
                                     progress=progress):
            v = feature.values
            problem = None
            row = {"code": v["code"], "subclass": v["subclass"].upper(), "name": v.get("name", "")[:100],
                   "owner": v.get("owner", "")[:100], "maintainer": v.get("maintainer", "")[:100]}
            try:
                codes.validate_code(row["code"], row["subclass"])
            except ValidationError as exc:
                problem = " ".join(exc.messages)
            if problem is None and known_subclasses is not None and row["subclass"] not in known_subclasses:
                problem = f"no component subclass {row['subclass']} in the catalogue"
            status = v.get("status") or "good"
            accuracy = v.get("accuracy") or "B"
            if problem is None and status not in STATUS_WORDS:
                problem = f"unknown status {status!r} (完好 破损 丢失 占用 废弃)"
            if problem is None and accuracy not in ACCURACY_WORDS:
                problem = f"unknown accuracy class {accuracy!r} (A, B or C)"
            if problem is None and v.get("bureau") and v["bureau"] not in bureaus:
                problem = f"no bureau with code {v['bureau']}"
            if problem is None and feature.geom.geom_type not in ("Point", "LineString", "MultiLineString",
                                                                   "Polygon", "MultiPolygon"):
                problem = f"a {feature.geom.geom_type} is not a point, line or polygon"
            if problem is None:
                try:
                    row["survey_date"] = _parse_date(v.get("survey_date"))
                except ValueError:
                    problem = f"survey date {v.get('survey_date')!r} is not a date (YYYY-MM-DD)"
            if problem is None and row["code"] in seen:
                problem = "the same code appears earlier in the file"
            if problem is not None:
                report.rejected.append(Problem(feature.index, feature.label, problem))
                continue
            seen.add(row["code"])
            row.update(status=STATUS_WORDS[status], accuracy=ACCURACY_WORDS[accuracy],
                       bureau_id=bureaus.get(v.get("bureau")) if v.get("bureau") else None)
            parsed.append((feature, row))
    except GDALException as exc:
        raise ImportFailed(f"cannot read {path}: the file is damaged ({exc})", report) from exc
    if report.read == 0:
        raise ImportFailed(f"{path}: no feature to import", report)

    # Locate in batches of one statement each, and check the code's county against the district found.
    for start in range(0, len(parsed), LOCATE_BATCH):
        batch = parsed[start:start + LOCATE_BATCH]
        anchors = [f.geom if f.geom.geom_type == "Point" else f.geom.point_on_surface for f, _ in batch]
        for (feature, row), location in zip(batch, locate_many([(p.x, p.y) for p in anchors]), strict=True):
            if location is None or "district" not in location.areas:
                report.rejected.append(Problem(feature.index, feature.label,
                                               "outside the city's jurisdiction: wrong CRS or datum?"))
                continue
            areas = location.areas
            county_w = codes.code_widths()[0]
            if row["code"][:county_w] != areas["district"].code[:county_w]:
                report.rejected.append(Problem(feature.index, feature.label,
                                               f"lies in {areas['district'].name} ({areas['district'].code}), "
                                               "not the county of its code"))
                continue
            row.update(cell_id=location.cell_id, district_id=areas["district"].id,
                       community_id=areas["community"].id if "community" in areas else None,
                       street_id=areas["street"].id if "street" in areas else None, geom=feature.geom)
    if report.rejected:
        report.rejected.sort(key=lambda p: p.index)
        raise ImportFailed(f"{len(report.rejected)} of {report.read} features rejected; nothing imported", report)

    existing = dict(Component.objects.filter(code__in=seen).values_list("code", "id")) if seen else {}
    if existing and not update:
        sample = ", ".join(sorted(existing)[:5])
        raise ImportFailed(f"{len(existing)} codes already exist ({sample}…); pass --update to replace them",
                           report)
    _write(parsed, existing, report, actor, path.name)
    return report


_COPY_COLUMNS = ("code", "subclass", "name", "geom", "bureau_id", "owner", "maintainer", "status", "accuracy",
                 "survey_date", "photo", "cell_id", "community_id", "street_id", "district_id", "created_at",
                 "updated_at")


def _copy_new(rows: list[dict], now) -> None:
    """New components by COPY (a million rows in a minute, where the ORM's INSERTs take many): every value was
    checked above, the geometry goes as EWKB hex."""
    import io

    def line(row: dict) -> list:
        return [row["code"], row["subclass"], row["name"], row["geom"].hexewkb.decode(), row["bureau_id"],
                row["owner"], row["maintainer"], row["status"], row["accuracy"], row["survey_date"], "",
                row["cell_id"], row["community_id"], row["street_id"], row["district_id"], now, now]

    def field(value) -> str:
        # NULL is an unquoted empty field, text is always quoted (an empty name stays ''), numbers are bare.
        if value is None:
            return ""
        if isinstance(value, int | float):
            return str(value)
        return '"' + str(value).replace('"', '""') + '"'

    with connection.cursor() as cur:
        for start in range(0, len(rows), 50_000):
            buffer = io.StringIO()
            buffer.writelines(",".join(field(v) for v in line(row)) + "\n" for row in rows[start:start + 50_000])
            buffer.seek(0)
            cur.copy_expert(f"COPY assets_component ({', '.join(_COPY_COLUMNS)}) FROM STDIN WITH (FORMAT csv)",
                            buffer)


def _write(parsed: list[tuple[Feature, dict]], existing: dict[str, int], report: ImportReport, actor,
           source: str) -> None:
    from .census import save_component

    now = timezone.now()
    note = f"import {source}"[:200]
    new = [row for _, row in parsed if row["code"] not in existing]
    _copy_new(new, now)
    # The import is the first entry of each new component's history: one statement for all of them.
    with connection.cursor() as cur:
        cur.execute("""INSERT INTO assets_componentlog (component_id, action, changes, note, actor_id, created_at)
                       SELECT c.id, %s, '{}'::jsonb, %s, %s, %s FROM assets_component c
                       WHERE c.created_at = %s
                         AND NOT EXISTS (SELECT 1 FROM assets_componentlog l WHERE l.component_id = c.id)""",
                    [ComponentLog.Action.IMPORT, note, getattr(actor, "pk", None), now, now])
    report.created = len(new)
    # Updates go one by one through the census, so each records exactly what changed.
    for _, row in parsed:
        if row["code"] in existing:
            component = Component.objects.get(pk=existing[row["code"]])
            for key in ("subclass", "name", "owner", "maintainer", "status", "accuracy", "bureau_id",
                        "survey_date", "geom"):
                setattr(component, key, row[key])
            if save_component(component, actor, note=note, action=ComponentLog.Action.IMPORT) is not None:
                report.updated += 1
