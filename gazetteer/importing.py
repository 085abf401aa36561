"""Importing addresses (door numbers, buildings, landmarks) and roads from any GIS file GDAL reads — GeoJSON,
Shapefile, GeoPackage, CSV with a WKT column or longitude/latitude columns — in any CRS, through the grid
importer's readers (grids.importing.feature_geometry). All or nothing: every feature is read, transformed to
WGS84, checked and located before anything is written; one rejected feature imports nothing, and the report says
which and why. Codes already in the gazetteer are refused, or updated with `update=True`."""

import csv
import tempfile
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from django.contrib.gis.gdal import CoordTransform, GDALException, SpatialReference
from django.contrib.gis.geos import GEOSGeometry, MultiLineString, Point
from django.db import transaction

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
from grids.projection import STORAGE_SRID

from .models import Address, Road
from .records import clean_number, clean_sub, split_aliases
from .writing import NewAddress, locate, road_for, set_names, write

FIELDS = ("code", "kind", "road", "number", "sub", "name", "aliases")
ROAD_FIELDS = ("name", "aliases")
# Kinds as files write them: this product's keys and the Chinese words.
KIND_WORDS = {"door": "door", "building": "building", "poi": "poi", "门牌": "door", "门牌号": "door",
              "楼栋": "building", "建筑": "building", "兴趣点": "poi", "地标": "poi"}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _csv_as_vrt(path: Path, lon_field: str, lat_field: str, srid: int | None) -> Path | None:
    """A CSV with longitude/latitude columns (no WKT column), as an OGR VRT GDAL reads points from; None when
    the file has a WKT column (GDAL reads that itself) or is no such CSV."""
    if path.suffix.lower() != ".csv" or not path.exists():
        return None
    with path.open(newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), [])
    present = {h.strip().lower(): h.strip() for h in header}
    if "wkt" in present:
        return None
    lon = present.get(lon_field.lower()) or present.get("x") or present.get("lng")
    lat = present.get(lat_field.lower()) or present.get("y")
    if not lon or not lat:
        raise ImportFailed(f"{path}: a CSV needs a WKT column or longitude/latitude columns "
                           f"(columns: {', '.join(header)}); name them with --lon-field and --lat-field")
    srs = f"<LayerSRS>EPSG:{srid or STORAGE_SRID}</LayerSRS>"
    vrt = (f'<OGRVRTDataSource><OGRVRTLayer name={quoteattr(path.stem)}>'
           f'<SrcDataSource>{escape(str(path.resolve()))}</SrcDataSource>{srs}'
           f'<GeometryType>wkbPoint</GeometryType>'
           f'<GeometryField encoding="PointFromColumns" x={quoteattr(lon)} y={quoteattr(lat)}/>'
           f'</OGRVRTLayer></OGRVRTDataSource>')
    out = Path(tempfile.mkdtemp(prefix="gazetteer-")) / f"{path.stem}.vrt"
    out.write_text(vrt, encoding="utf-8")
    return out


def _open(path: Path, layer_name: str | None, srid: int | None, lon_field: str, lat_field: str):
    vrt = _csv_as_vrt(path, lon_field, lat_field, srid)
    source, layer = open_layer(vrt or path, None if vrt else layer_name)
    return source, layer, source_srs(layer, path, srid)


def _mapping(layer, path: Path, mapping: dict[str, str], required: tuple[str, ...]) -> dict[str, str]:
    present = {f.lower(): f for f in layer.fields}
    found = {k: present[v.lower()] for k, v in mapping.items() if v.lower() in present}
    for name in required:
        if name not in found:
            raise ImportFailed(f"{path}: no {name} field (columns: {', '.join(layer.fields)}); "
                               f"map one with --{name}-field")
    return found


def _point(geom: GEOSGeometry) -> Point | None:
    """A point for the address: the point itself, or a point inside a building's outline."""
    if geom.geom_type == "Point":
        return geom
    if geom.geom_type == "MultiPoint" and len(geom) == 1:
        return geom[0]
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom.point_on_surface
    return None


def _in_range(geom: GEOSGeometry) -> bool:
    minx, miny, maxx, maxy = geom.extent
    return -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90


def _check(values: dict) -> tuple[dict | None, str | None]:
    """An address's values as stored, or why not."""
    raw_kind = values.get("kind", "")
    number = clean_number(values["number"]) if values.get("number") else ""
    sub = clean_sub(values.get("sub", ""))
    name = values.get("name", "")
    if raw_kind:
        kind = KIND_WORDS.get(raw_kind.lower())
        if kind is None:
            return None, f"unknown kind {raw_kind!r} (door 门牌, building 楼栋, poi 兴趣点)"
    else:
        kind = "poi" if name and not number else "building" if sub else "door"
    if values.get("number") and not number[:1].isdigit():
        return None, f"door number {values['number']!r} is not a number (12, 12号, 12-1)"
    if kind in ("door", "building") and not (values.get("road") and number):
        return None, f"a {kind} needs a road and a door number"
    if kind == "poi" and not name:
        return None, "a landmark needs a name"
    if len(values.get("road", "")) > 100 or len(name) > 100 or len(number) > 20 or len(sub) > 40:
        return None, "a value is too long (road, name ≤ 100, number ≤ 20, building/unit ≤ 40 characters)"
    return {"kind": kind, "road": values.get("road", ""), "number": number, "sub": sub, "name": name,
            "aliases": split_aliases(values.get("aliases", ""))}, None


@transaction.atomic
def import_addresses(path: str | Path, *, mapping: dict[str, str] | None = None, srid: int | None = None,
                     from_gcj02: bool = False, update: bool = False, layer_name: str | None = None,
                     lon_field: str = "lon", lat_field: str = "lat",
                     progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import every feature of a layer as addresses; all or nothing. Raises ImportFailed with the report."""
    path = Path(path)
    report = ImportReport(level="addresses")
    _source, layer, srs = _open(path, layer_name, srid, lon_field, lat_field)
    mapping = _mapping(layer, path, {k: k for k in FIELDS} | (mapping or {}), ())
    if "road" not in mapping and "name" not in mapping:
        raise ImportFailed(f"{path}: no road or name field (columns: {', '.join(layer.fields)}); "
                           "map one with --road-field or --name-field")
    transform = CoordTransform(srs, SpatialReference(STORAGE_SRID))
    rows: list[NewAddress] = []
    indexes: list[int] = []  # each row's feature number, for the report
    seen: set[str] = set()
    total = len(layer)
    try:
        for index, feature in enumerate(layer, start=1):
            if progress and index % 50_000 == 0:
                progress(index, total)
            report.read += 1
            values = {key: _text(field_value(feature, column)) for key, column in mapping.items()}
            label = values.get("code") or f"{values.get('road', '')}{values.get('number', '')}" or values.get(
                "name", "") or "no code"
            try:
                geom = feature_geometry(feature, transform, from_gcj02)
            except FeatureRejected as exc:
                report.rejected.append(Problem(index, label, str(exc)))
                continue
            point = _point(geom)
            problem = None
            if point is None:
                problem = f"a {geom.geom_type} is not a point or a building's outline"
            elif not _in_range(point):
                problem = (f"coordinates ({point.x:.6g}, {point.y:.6g}) are not longitude/latitude after "
                           "transforming: wrong CRS (pass --srid)")
            row, why = _check(values) if problem is None else (None, problem)
            if row is None:
                report.rejected.append(Problem(index, label, why))
                continue
            code = values.get("code") or f"{row['road'] or row['name']}-{row['number']}-{row['sub']}-{point.x:.6f}," \
                                          f"{point.y:.6f}"
            if len(code) > 64:
                report.rejected.append(Problem(index, label, "the code is longer than 64 characters"))
                continue
            if code in seen:
                report.rejected.append(Problem(index, label, "the same code appears earlier in the file"))
                continue
            seen.add(code)
            rows.append(NewAddress(code, point=point, source=path.name, **row))
            indexes.append(index)
    except GDALException as exc:
        raise ImportFailed(f"cannot read {path}: the file is damaged ({exc})", report) from exc
    if report.read == 0:
        raise ImportFailed(f"{path}: no feature to import", report)
    inside = locate(rows, [r.point for r in rows])
    for index, row, ok in zip(indexes, rows, inside, strict=True):
        if not ok:
            report.rejected.append(Problem(index, row.code, "outside the city's jurisdiction: wrong CRS or datum?"))
    if report.rejected:
        report.rejected.sort(key=lambda p: p.index)
        raise ImportFailed(f"{len(report.rejected)} of {report.read} features rejected; nothing imported", report)
    existing = dict(Address.objects.filter(code__in=seen).values_list("code", "id")) if seen else {}
    if existing and not update:
        sample = ", ".join(sorted(existing)[:5])
        raise ImportFailed(f"{len(existing)} codes already exist ({sample}…); pass --update to replace them",
                           report)
    report.created, report.updated = write(rows, existing)
    return report


@transaction.atomic
def import_roads(path: str | Path, *, mapping: dict[str, str] | None = None, srid: int | None = None,
                 from_gcj02: bool = False, layer_name: str | None = None,
                 progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import road centre lines (name, aliases): each road in the district its middle lies in; a road of the
    same name and district is given the line and aliases. All or nothing."""
    path = Path(path)
    report = ImportReport(level="roads")
    _source, layer, srs = _open(path, layer_name, srid, "lon", "lat")
    mapping = _mapping(layer, path, {k: k for k in ROAD_FIELDS} | (mapping or {}), ("name",))
    transform = CoordTransform(srs, SpatialReference(STORAGE_SRID))
    parsed: list[tuple[int, NewAddress, MultiLineString]] = []
    try:
        for index, feature in enumerate(layer, start=1):
            report.read += 1
            values = {key: _text(field_value(feature, column)) for key, column in mapping.items()}
            label = values.get("name") or "no name"
            try:
                geom = feature_geometry(feature, transform, from_gcj02)
            except FeatureRejected as exc:
                report.rejected.append(Problem(index, label, str(exc)))
                continue
            if geom.geom_type == "LineString":
                geom = MultiLineString(geom, srid=STORAGE_SRID)
            if geom.geom_type != "MultiLineString":
                report.rejected.append(Problem(index, label, f"a {geom.geom_type} is not a road's line"))
            elif not values.get("name") or len(values["name"]) > 100:
                report.rejected.append(Problem(index, label, "a road needs a name of at most 100 characters"))
            elif not _in_range(geom):
                report.rejected.append(Problem(index, label, "coordinates are not longitude/latitude after "
                                                             "transforming: wrong CRS (pass --srid)"))
            else:
                middle = geom.interpolate_normalized(0.5) if len(geom) == 1 else geom.point_on_surface
                row = NewAddress("", "", values["name"], "", "", "", split_aliases(values.get("aliases", "")),
                                 middle)
                parsed.append((index, row, geom))
    except GDALException as exc:
        raise ImportFailed(f"cannot read {path}: the file is damaged ({exc})", report) from exc
    if report.read == 0:
        raise ImportFailed(f"{path}: no feature to import", report)
    inside = locate([r for _, r, _ in parsed], [r.point for _, r, _ in parsed])
    for (index, row, _), ok in zip(parsed, inside, strict=True):
        if not ok:
            report.rejected.append(Problem(index, row.road, "outside the city's jurisdiction: wrong CRS or datum?"))
    if report.rejected:
        report.rejected.sort(key=lambda p: p.index)
        raise ImportFailed(f"{len(report.rejected)} of {report.read} features rejected; nothing imported", report)
    cache: dict = {}
    for _, row, geom in parsed:
        existed = Road.objects.filter(name=row.road, district_id=row.located["district"]).exists()
        road = road_for(row.road, row.located["district"], cache, row.aliases, geom)
        if existed:  # the addresses made it from their road's name; the file gives its line and aliases
            road.geom, road.aliases = geom, "|".join(row.aliases)
            road.save()
            set_names(road, [road.name, *row.aliases])
            report.updated += 1
        else:
            report.created += 1
    return report
