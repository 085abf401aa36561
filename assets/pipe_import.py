"""Importing and exporting a pipe network as surveyed pipe data comes (CJJ 61 style): a layer of points (管点)
and a layer of segments (管段), from any GIS file in any CRS, through the same readers as the census — all or
nothing, every feature checked before anything is written. A segment names its two points by code, or, when
the file has no such fields, is joined to the points its ends lie on (within `snap_m`)."""

import json
import math
import shutil
import subprocess
import tempfile
from pathlib import Path

from django.contrib.gis.geos import LineString
from django.db import connection, transaction

from grids.importing import ImportFailed, ImportReport, Problem, open_layer, source_srs

from .importing import read_features
from .models import Component, NetworkKind, PipeNetwork, PipePoint, PipeSegment, PipeStatus, geodesic_length

POINT_WORDS = {**{k.value: k.value for k in PipePoint.Kind}, "阀门": "valve", "检查井": "manhole",
               "消防栓": "hydrant", "节点": "junction", "三通": "junction", "泵站": "pump", "排放口": "outlet",
               "用户": "service", "接户点": "service"}
KIND_WORDS = {**{k.value: k.value for k in NetworkKind}, "给水": "water", "雨水": "storm", "污水": "sewer",
              "燃气": "gas", "热力": "heat", "电力": "power", "通信": "telecom", "工业": "industrial"}
POINT_FIELDS = ("code", "kind", "depth", "customers", "component")
SEGMENT_FIELDS = ("code", "from", "to", "material", "diameter", "pressure", "depth_start", "depth_end", "year",
                  "owner", "status", "customers")


def _number(value, kind=float):
    if value in ("", None):
        return None
    return kind(float(value))


def _layer_features(path: Path, layer_name: str, fields: tuple, srid, report):
    _source, layer = open_layer(path, layer_name)
    srs = source_srs(layer, path, srid)
    present = {f.lower(): f for f in layer.fields}
    mapping = {f: present[f] for f in fields if f in present}
    if "code" not in mapping:
        raise ImportFailed(f"{path} layer {layer.name}: no code field (columns: {', '.join(layer.fields)})")
    return list(read_features(layer, srs, mapping, from_gcj02=False, report=report)), _source


@transaction.atomic
def import_pipes(path: str | Path, *, network: str, kind: str, name: str = "", owner: str = "",
                 points_layer: str = "points", segments_layer: str = "segments", srid: int | None = None,
                 snap_m: float = 0.5) -> ImportReport:
    """Import a network's points and segments; all or nothing. Raises ImportFailed with the report."""
    path = Path(path)
    if kind not in KIND_WORDS:
        raise ImportFailed(f"unknown network kind {kind!r} ({', '.join(k.value for k in NetworkKind)})")
    if PipeNetwork.objects.filter(code=network).exists():
        raise ImportFailed(f"network {network} already exists: export it, or import under another code")
    report = ImportReport(level="pipes")
    points, _a = _layer_features(path, points_layer, POINT_FIELDS, srid, report)
    segments, _b = _layer_features(path, segments_layer, SEGMENT_FIELDS, srid, report)
    components = {}
    wanted = {f.values.get("component") for f in points if f.values.get("component")}
    if wanted:
        components = dict(Component.objects.filter(code__in=wanted).values_list("code", "pk"))
    rows, seen = [], set()
    for f in points:
        v = f.values
        problem = None
        point_kind = POINT_WORDS.get(v.get("kind") or "junction")
        if f.geom.geom_type != "Point":
            problem = f"a {f.geom.geom_type} is not a pipe point"
        elif point_kind is None:
            problem = f"unknown point kind {v.get('kind')!r}"
        elif v["code"] in seen or not v["code"]:
            problem = "no code, or the same code earlier in the layer"
        elif v.get("component") and v["component"] not in components:
            problem = f"no component {v['component']} in the census"
        if problem is None:
            try:
                depth, customers = _number(v.get("depth")), _number(v.get("customers"), int) or 0
            except ValueError:
                problem = "depth and customers are numbers"
        if problem:
            report.rejected.append(Problem(f.index, f.label, problem))
            continue
        seen.add(v["code"])
        rows.append(PipePoint(code=v["code"], kind=point_kind, geom=f.geom, depth_m=depth, customers=customers,
                              component_id=components.get(v.get("component"))))
    taken = set(PipePoint.objects.filter(code__in=seen).values_list("code", flat=True))
    by_code = {p.code: p for p in rows}
    segs, seg_codes = [], set()
    for f in segments:
        v = f.values
        problem = None
        line = f.geom if f.geom.geom_type == "LineString" else (
            f.geom[0] if f.geom.geom_type == "MultiLineString" and len(f.geom) == 1 else None)
        if line is None:
            problem = f"a {f.geom.geom_type} is not a segment (one line)"
        elif not v["code"] or v["code"] in seg_codes:
            problem = "no code, or the same code earlier in the layer"
        if problem is None:
            ends = [by_code.get(v.get("from")), by_code.get(v.get("to"))]
            for i, coord in enumerate((line.coords[0], line.coords[-1])):
                if ends[i] is None:
                    ends[i] = _snap(rows, coord, snap_m)
            if None in ends:
                problem = f"an end of the segment meets no point (by code or within {snap_m} m)"
            elif ends[0] is ends[1]:
                problem = "both ends at the same point"
        if problem is None:
            try:
                numbers = {k: _number(v.get(k), t) for k, t in (("diameter", int), ("depth_start", float),
                                                                  ("depth_end", float), ("year", int),
                                                                  ("customers", int))}
            except ValueError:
                problem = "diameter, depths, year and customers are numbers"
        status = v.get("status") or "in_use"
        if problem is None and status not in PipeStatus.values:
            problem = f"unknown status {status!r}"
        if problem:
            report.rejected.append(Problem(f.index, f.label, problem))
            continue
        seg_codes.add(v["code"])
        segs.append((v, ends, LineString(line.coords, srid=4326), numbers, status))
    taken |= set(PipeSegment.objects.filter(code__in=seg_codes).values_list("code", flat=True))
    if taken:
        report.rejected.append(Problem(0, "", f"codes already in use: {', '.join(sorted(taken)[:5])}"))
    if report.rejected:
        raise ImportFailed(f"{len(report.rejected)} problems in {report.read} features; nothing imported", report)
    net = PipeNetwork.objects.create(code=network, name=name or network, kind=KIND_WORDS[kind], owner=owner)
    for p in rows:
        p.network = net
    PipePoint.objects.bulk_create(rows, batch_size=5000)
    PipeSegment.objects.bulk_create([
        PipeSegment(network=net, code=v["code"], source=a, target=b, geom=line, length_m=geodesic_length(line),
                    material=v.get("material", "")[:30], diameter_mm=n["diameter"],
                    pressure_class=v.get("pressure", "")[:20], depth_start_m=n["depth_start"],
                    depth_end_m=n["depth_end"], year_laid=n["year"], owner=v.get("owner", "")[:100], status=status,
                    customers=n["customers"] or 0)
        for v, (a, b), line, n, status in segs], batch_size=5000)
    report.created = len(rows) + len(segs)
    return report


def _snap(points: list[PipePoint], coord: tuple, snap_m: float) -> PipePoint | None:
    x, y = coord[0], coord[1]
    k = 111_320
    best, best_d = None, snap_m
    for p in points:
        d = math.hypot((p.geom.x - x) * k * math.cos(math.radians(y)), (p.geom.y - y) * k)
        if d <= best_d:
            best, best_d = p, d
    return best


def export_pipes(path: str | Path, network: str) -> int:
    """A network as a GeoPackage of two layers, points and segments, with the fields import_pipes reads."""
    if shutil.which("ogr2ogr") is None:
        raise ImportFailed("ogr2ogr is not installed (Debian gdal-bin)")
    net = PipeNetwork.objects.filter(code=network).first()
    if net is None:
        raise ImportFailed(f"no network {network}")
    path = Path(path)
    if path.exists():
        path.unlink()
    queries = {
        "points": ("SELECT p.code, p.kind, p.depth_m, p.customers, c.code, ST_AsGeoJSON(p.geom, 7) "
                   "FROM assets_pipepoint p LEFT JOIN assets_component c ON c.id = p.component_id "
                   "WHERE p.network_id = %s ORDER BY p.code", ("code", "kind", "depth", "customers", "component")),
        "segments": ("SELECT s.code, a.code, b.code, s.material, s.diameter_mm, s.pressure_class, s.depth_start_m, "
                     "s.depth_end_m, s.year_laid, s.owner, s.status, s.customers, ST_AsGeoJSON(s.geom, 7) "
                     "FROM assets_pipesegment s JOIN assets_pipepoint a ON a.id = s.source_id "
                     "JOIN assets_pipepoint b ON b.id = s.target_id WHERE s.network_id = %s ORDER BY s.code",
                     SEGMENT_FIELDS)}
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (layer, (sql, fields)) in enumerate(queries.items()):
            source = Path(tmp) / f"{layer}.geojsonl"
            with connection.cursor() as cur, open(source, "w", encoding="utf-8") as out:
                cur.execute(sql, [net.pk])
                for row in cur.fetchall():
                    props = dict(zip(fields, row[:-1], strict=True))
                    out.write(json.dumps({"type": "Feature", "geometry": json.loads(row[-1]), "properties": props},
                                         ensure_ascii=False) + "\n")
                    n += 1
            args = ["ogr2ogr", "-f", "GPKG", "-nln", layer, "-a_srs", "EPSG:4326", *(["-update"] if i else []),
                    str(path), str(source)]
            done = subprocess.run(args, capture_output=True, text=True)
            if done.returncode != 0:
                raise ImportFailed(f"ogr2ogr failed: {done.stderr.strip()[-200:]}")
    return n
