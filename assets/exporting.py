"""Exporting the census: CSV (WKT geometry plus lon/lat of its anchor point, for spreadsheets) and GeoPackage
(through GDAL's ogr2ogr, from a GeoJSON written first), with the same field names the importer reads by
default, so that an export imports back unchanged."""

import csv
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from django.db import connection

FIELDS = ("code", "subclass", "name", "status", "accuracy", "owner", "maintainer", "bureau", "survey_date",
          "cell", "district")

_SQL = """
SELECT c.code, c.subclass, c.name, c.status, c.accuracy, c.owner, c.maintainer, b.code, c.survey_date,
       cell.code, d.code, ST_AsGeoJSON(c.geom, 7), ST_AsText(c.geom),
       ST_X(ST_PointOnSurface(c.geom)), ST_Y(ST_PointOnSurface(c.geom))
FROM assets_component c
LEFT JOIN grids_bureau b ON b.id = c.bureau_id
LEFT JOIN grids_cell cell ON cell.id = c.cell_id
JOIN grids_area d ON d.id = c.district_id
{where}
ORDER BY c.code
"""


class ExportFailed(Exception):
    pass


def _rows(district: str | None):
    where, params = ("WHERE d.code = %s", [district]) if district else ("", [])
    with connection.cursor() as cur:
        cur.itersize = 10_000
        cur.execute(_SQL.format(where=where), params)
        while True:
            batch = cur.fetchmany(10_000)
            if not batch:
                return
            yield from batch


def export_csv(path: str | Path, district: str | None = None) -> int:
    n = 0
    with open(path, "w", newline="", encoding="utf-8-sig") as out:  # the BOM makes Excel read UTF-8
        writer = csv.writer(out)
        writer.writerow([*FIELDS, "lon", "lat", "wkt"])
        for row in _rows(district):
            values = ["" if v is None else v for v in row[:11]]
            writer.writerow([*values, f"{row[13]:.7f}", f"{row[14]:.7f}", row[12]])
            n += 1
    return n


def export_gpkg(path: str | Path, district: str | None = None, layer: str = "components") -> int:
    if shutil.which("ogr2ogr") is None:
        raise ExportFailed("ogr2ogr is not installed (Debian gdal-bin)")
    path = Path(path)
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "components.geojsonl"
        with open(source, "w", encoding="utf-8") as out:
            for row in _rows(district):
                props = dict(zip(FIELDS, row[:11], strict=True))
                if props["survey_date"] is not None:
                    props["survey_date"] = props["survey_date"].isoformat()
                out.write(json.dumps({"type": "Feature", "geometry": json.loads(row[11]), "properties": props},
                                     ensure_ascii=False) + "\n")
                n += 1
        if path.exists():
            path.unlink()
        done = subprocess.run(["ogr2ogr", "-f", "GPKG", "-nln", layer, "-a_srs", "EPSG:4326",
                               "-nlt", "GEOMETRY", str(path), str(source)], capture_output=True, text=True)
        if done.returncode != 0:
            raise ExportFailed(f"ogr2ogr failed: {done.stderr.strip().splitlines()[-1] if done.stderr else ''}")
    return n
