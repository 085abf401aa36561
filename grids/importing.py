"""Reading area and cell boundaries from GIS files (GeoJSON, Shapefile, GeoPackage… anything GDAL reads).

An import is all-or-nothing: every feature is read, transformed to WGS84, checked and, where allowed,
repaired before anything is written; one rejected feature means nothing is imported, and the report says
which feature and why.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.gis.gdal import CoordTransform, DataSource, GDALException, OGRGeometry, SpatialReference
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from django.core.exceptions import ValidationError
from django.db import transaction

from . import codes, gcj02
from .models import Area, Cell, Generation, Level
from .projection import STORAGE_SRID

LEVELS = {"city": codes.CITY, "district": codes.DISTRICT, "street": codes.STREET,
          "community": codes.COMMUNITY, "cell": codes.CELL}


class ImportFailed(Exception):
    """The file could not be imported; nothing was written."""

    def __init__(self, message: str, report: "ImportReport | None" = None):
        super().__init__(message)
        self.report = report


@dataclass
class Problem:
    index: int  # 1-based feature number in the layer
    label: str  # the feature's code/name as far as known
    message: str

    def __str__(self) -> str:
        return f"feature {self.index} ({self.label}): {self.message}"


@dataclass
class ImportReport:
    level: str
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    generation: int | None = None  # the pending generation written into, with --new-generation
    regrid: list[str] = field(default_factory=list)  # communities that moved: their cells ended, re-grid them
    repaired: list[Problem] = field(default_factory=list)
    rejected: list[Problem] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"{self.level}: {self.read} read, {self.created} created, {self.updated} updated, "
                f"{self.skipped} skipped by filter, {len(self.repaired)} repaired, {len(self.rejected)} rejected")
        if self.generation is not None:
            text += f", {self.unchanged} unchanged; written into generation {self.generation} (not active yet)"
        return text


@dataclass
class _Parsed:
    index: int
    code: str
    name: str
    geom: MultiPolygon
    parent: Area | None = None


def _open_layer(path: Path, layer_name: str | None):
    if not path.exists():
        raise ImportFailed(f"cannot read {path}: no such file")
    try:
        source = DataSource(str(path))
    except GDALException as exc:
        raise ImportFailed(f"cannot read {path}: not a GIS file GDAL understands ({exc})") from exc
    if source.layer_count == 0:
        raise ImportFailed(f"cannot read {path}: it holds no layer")
    if layer_name is None:
        return source, source[0]
    try:
        return source, source[layer_name]
    except (IndexError, KeyError) as exc:
        names = ", ".join(layer.name for layer in source)
        raise ImportFailed(f"no layer {layer_name!r} in {path} (layers: {names})") from exc


def _source_srs(layer, path: Path, srid: int | None) -> SpatialReference:
    if srid is not None:
        try:
            return SpatialReference(srid)
        except Exception as exc:  # GDAL raises several kinds for an unknown code
            raise ImportFailed(f"unknown CRS EPSG:{srid}") from exc
    srs = layer.srs
    if srs is None:
        raise ImportFailed(f"{path} declares no coordinate reference system; pass --srid (e.g. 4490)")
    return srs


def _to_multipolygon(geom: GEOSGeometry) -> MultiPolygon | None:
    """The polygonal part of a geometry as a MultiPolygon, or None if it has none."""
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon(geom, srid=geom.srid)
    if geom.geom_type == "GeometryCollection":
        polys: list[Polygon] = []
        for part in geom:
            mp = _to_multipolygon(part)
            if mp is not None:
                polys.extend(mp)
        return MultiPolygon(*polys, srid=geom.srid) if polys else None
    return None


def _field(feature, name: str):
    try:
        value = feature.get(name)
    except (IndexError, KeyError, GDALException):
        return None
    return value


class FeatureRejected(Exception):
    """A feature whose geometry cannot be read; the message says why, for the import's report."""


def feature_geometry(feature, transform: CoordTransform, from_gcj02: bool) -> GEOSGeometry:
    """A feature's geometry in the storage CRS (2D, transformed, GCJ-02 shifted back when asked): the one way
    every importer of GIS files reads it (areas, the census, the pipe networks)."""
    try:
        ogr: OGRGeometry | None = feature.geom
    except GDALException as exc:
        raise FeatureRejected(f"unreadable geometry ({exc})") from exc
    if ogr is None or ogr.empty:
        raise FeatureRejected("no geometry")
    try:
        ogr.set_3d(False)
        ogr.transform(transform)
        geom = ogr.geos
    except GDALException as exc:
        raise FeatureRejected(f"cannot transform to WGS84 ({exc})") from exc
    geom.srid = STORAGE_SRID
    if from_gcj02:
        geom = GEOSGeometry(_json_convert(geom), srid=STORAGE_SRID)
    return geom


def _read(layer, srs: SpatialReference, *, code_field: str, name_field: str, from_gcj02: bool,
          repair: bool, where: dict[str, str], report: ImportReport,
          progress: Callable[[int, int], None] | None) -> Iterator[_Parsed]:
    transform = CoordTransform(srs, SpatialReference(STORAGE_SRID))
    total = len(layer)
    step = max(total // 20, 1000)
    for index, feature in enumerate(layer, start=1):
        if progress and index % step == 0:
            progress(index, total)
        if any(str(_field(feature, k)) != v for k, v in where.items()):
            report.skipped += 1
            continue
        report.read += 1
        raw_code, name = _field(feature, code_field), _field(feature, name_field)
        code = str(int(raw_code)) if isinstance(raw_code, float) and raw_code.is_integer() else raw_code
        code = str(code).strip() if code not in (None, "") else ""
        name = str(name).strip() if name not in (None, "") else ""
        label = " ".join(x for x in (code, name) if x) or "no code"
        if not code:
            report.rejected.append(Problem(index, label, f"no value in code field {code_field!r}"))
            continue
        try:
            geom = feature_geometry(feature, transform, from_gcj02)
        except FeatureRejected as exc:
            report.rejected.append(Problem(index, label, str(exc)))
            continue
        multi = _to_multipolygon(geom)
        if multi is None:
            report.rejected.append(Problem(index, label, f"a {geom.geom_type} is not an area (polygon)"))
            continue
        if not multi.valid:
            reason = multi.valid_reason
            if not repair:
                report.rejected.append(Problem(index, label, f"invalid geometry: {reason}"))
                continue
            fixed = _to_multipolygon(multi.make_valid())
            if fixed is None or fixed.empty or fixed.area == 0:
                report.rejected.append(Problem(index, label, f"invalid geometry that cannot be repaired: {reason}"))
                continue
            report.repaired.append(Problem(index, label, f"repaired invalid geometry: {reason}"))
            multi = fixed
        minx, miny, maxx, maxy = multi.extent
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            report.rejected.append(Problem(
                index, label, f"coordinates ({minx:.6g}, {miny:.6g}) are not longitude/latitude after transforming "
                              "to WGS84: the file's CRS is wrong or missing (pass --srid)"))
            continue
        yield _Parsed(index, code, name, multi)


def _json_convert(geom: GEOSGeometry) -> str:
    import json

    data = json.loads(geom.json)
    data["coordinates"] = gcj02.convert_coords(data["coordinates"], gcj02.gcj02_to_wgs84)
    return json.dumps(data)


def _resolve_parent(item: _Parsed, level: int, parent: Area | None, report: ImportReport,
                    parents_by_code: dict[str, Area]) -> bool:
    """Find the item's parent and complete a short (local) code; False (with a problem) if impossible."""
    if level == codes.CITY:
        return True
    full = codes.code_length(level)
    parent_level = level - 1
    if parent is not None:
        item.parent = parent
        if len(item.code) == codes.local_width(level) and level > codes.DISTRICT:
            item.code = parent.code + item.code
        return True
    if level == codes.DISTRICT:
        key = item.code[:4]
        item.parent = next((a for c, a in parents_by_code.items() if c[:4] == key), None)
    elif len(item.code) == full:
        item.parent = parents_by_code.get(item.code[: codes.code_length(parent_level)])
    elif len(item.code) == codes.local_width(level):
        # A local code only: the parent is the area of the level above that holds the feature.
        point = item.geom.point_on_surface
        item.parent = next((a for a in parents_by_code.values() if a.geom.contains(point)), None)
        if item.parent is not None:
            item.code = item.parent.code + item.code
    if item.parent is None:
        report.rejected.append(Problem(item.index, item.code,
                                       f"no parent {Level(parent_level).label} found for this code"))
        return False
    if not _prepared(item.parent).intersects(item.geom):
        report.rejected.append(Problem(
            item.index, item.code,
            f"lies wholly outside its parent {item.parent.name} ({item.parent.code}): wrong CRS or datum?"))
        return False
    return True


def _prepared(area: Area):
    # One import tests a few parents many times; a prepared geometry, kept on the instance, makes it cheap.
    if not hasattr(area, "_prepared_geom"):
        area._prepared_geom = area.geom.prepared
    return area._prepared_geom


@transaction.atomic
def import_areas(path: str | Path, level_name: str, *, code_field: str = "code", name_field: str = "name",
                 parent_code: str | None = None, srid: int | None = None, from_gcj02: bool = False,
                 repair: bool = True, update: bool = False, layer_name: str | None = None,
                 where: dict[str, str] | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 generation: Generation | None = None) -> ImportReport:
    """Import every feature of a layer as areas (or cells) of one level; all or nothing.

    With a pending `generation` (grids.generations.new_generation) nothing in use changes: new codes start in
    it, and an existing code whose boundary, name or parent differs gets a new row there (the old row ends at
    the generation before, with the cases that point at it); unchanged rows just span it. Without one, the
    active generation is written in place (`update` replaces existing codes).

    Raises ImportFailed, carrying the report, when the file cannot be read or any feature is rejected.
    """
    if level_name not in LEVELS:
        raise ImportFailed(f"unknown level {level_name!r}; choose one of {', '.join(LEVELS)}")
    level = LEVELS[level_name]
    path = Path(path)
    report = ImportReport(level=level_name)
    _source, layer = _open_layer(path, layer_name)
    srs = _source_srs(layer, path, srid)

    areas = Area.objects.in_generation(generation) if generation else Area.objects.current()
    parent = None
    if parent_code is not None:
        parent = areas.filter(code=parent_code, level=level - 1).first()
        if parent is None:
            raise ImportFailed(f"no {Level(level - 1).label} with code {parent_code}")
    parents_by_code = {} if level == codes.CITY else {
        a.code: a for a in areas.filter(level=level - 1).select_related("parent")
    }

    items: list[_Parsed] = []
    seen: set[str] = set()
    try:
        for item in _read(layer, srs, code_field=code_field, name_field=name_field, from_gcj02=from_gcj02,
                          repair=repair, where=where or {}, report=report, progress=progress):
            if not _resolve_parent(item, level, parent, report, parents_by_code):
                continue
            parent_full = item.parent.code if item.parent else None
            try:
                codes.validate_code(level, item.code, parent_full)
            except ValidationError as exc:
                report.rejected.append(Problem(item.index, item.code, " ".join(exc.messages)))
                continue
            if item.code in seen:
                report.rejected.append(Problem(item.index, item.code, "the same code appears earlier in the file"))
                continue
            seen.add(item.code)
            if level != codes.CELL and not item.name:
                report.rejected.append(Problem(item.index, item.code, f"no value in name field {name_field!r}"))
                continue
            items.append(item)
    except GDALException as exc:
        raise ImportFailed(f"cannot read {path}: the file is damaged ({exc})", report) from exc

    if report.read == 0 and not report.rejected:
        raise ImportFailed(f"{path}: no feature to import", report)
    if report.rejected:
        raise ImportFailed(f"{len(report.rejected)} of {report.read} features rejected; nothing imported", report)

    model = Cell if level == codes.CELL else Area
    rows = model.objects.in_generation(generation) if generation else model.objects.current()
    existing = set(rows.filter(code__in=seen).values_list("code", flat=True))
    if existing and not update and generation is None:
        sample = ", ".join(sorted(existing)[:5])
        raise ImportFailed(f"{len(existing)} codes already exist ({sample}…); pass --update to replace them, "
                           "or --new-generation to make them a new generation", report)
    if generation is not None:
        report.generation = generation.pk
        if level == codes.CELL:
            _write_cells_generation(items, generation, report)
        else:
            _write_areas_generation(items, level, generation, report)
    elif level == codes.CELL:
        _write_cells(items, existing, report)
    else:
        _write_areas(items, level, existing, report)
    return report


def _write_areas(items: list[_Parsed], level: int, existing: set[str], report: ImportReport) -> None:
    for item in items:
        if item.code in existing:
            area = Area.objects.current().get(code=item.code)
            area.name, area.geom, area.parent = item.name, item.geom, item.parent
            area.save()
            report.updated += 1
        else:
            Area(level=level, code=item.code, name=item.name, parent=item.parent, geom=item.geom).save()
            report.created += 1


def _write_areas_generation(items: list[_Parsed], level: int, generation: Generation,
                            report: ImportReport) -> None:
    from .generations import Changes, supersede_area

    rows = {a.code: a for a in Area.objects.in_generation(generation).filter(code__in=[i.code for i in items])}
    changes = Changes(generation)
    for item in items:
        old = rows.get(item.code)
        if old is None:
            Area(level=level, code=item.code, name=item.name, parent=item.parent, geom=item.geom,
                 generation_low=generation, is_current=False).save()
            report.created += 1
        elif (old.name, old.parent_id) == (item.name, item.parent.pk if item.parent else None) \
                and old.geom.equals_exact(item.geom, tolerance=0):
            report.unchanged += 1
        else:
            supersede_area(old, generation, name=item.name, geom=item.geom, parent=item.parent, report=changes)
            report.updated += 1
    report.regrid = sorted(changes.cells_ended)


def _write_cells(items: list[_Parsed], existing: set[str], report: ImportReport) -> None:
    if existing:
        Cell.objects.current().filter(code__in=existing).delete()
        report.updated = len(existing)
    cells = []
    for item in items:
        community = item.parent
        cells.append(Cell(code=item.code, community=community, street_id=community.parent_id,
                          district_id=community.parent.parent_id, geom=item.geom))
    Cell.objects.bulk_create(cells, batch_size=2000)
    report.created = len(cells) - report.updated


def _write_cells_generation(items: list[_Parsed], generation: Generation, report: ImportReport) -> None:
    from .generations import end_in

    rows = {c.code: c for c in Cell.objects.in_generation(generation).filter(code__in=[i.code for i in items])}
    cells = []
    for item in items:
        old = rows.get(item.code)
        if old is not None:
            if old.community_id == item.parent.pk and old.geom.equals_exact(item.geom, tolerance=0):
                report.unchanged += 1
                continue
            end_in(old, generation)
            report.updated += 1
        else:
            report.created += 1
        community = item.parent
        cells.append(Cell(code=item.code, community=community, street_id=community.parent_id,
                          district_id=community.parent.parent_id, geom=item.geom, generation_low=generation,
                          is_current=False))
    Cell.objects.bulk_create(cells, batch_size=2000)



# Shared with the other importers of GIS files (assets: the component census, the pipe networks), so that every
# file is opened, its CRS found and its attributes read the same way.
open_layer = _open_layer
source_srs = _source_srs
field_value = _field
