"""manage.py import_sensors FILE — create or update sensors from a CSV file or a GIS file, all or nothing."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from monitoring.registry import CSV_COLUMNS, GIS_FIELDS, SensorImportError, import_csv, import_gis


class Command(BaseCommand):
    help = (f"Import sensors, all or nothing: a CSV file with the columns {', '.join(CSV_COLUMNS)}, or a GIS file "
            f"GDAL reads (GeoJSON, GeoPackage, Shapefile…) of points with the fields {', '.join(GIS_FIELDS)}, in "
            "its own CRS (or --srid).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument("--srid", type=int, help="the GIS file's CRS when it does not say (EPSG code)")
        parser.add_argument("--from-gcj02", action="store_true", help="the GIS file's coordinates are GCJ-02")
        parser.add_argument("--layer", help="the layer to read when the GIS file has several")

    def handle(self, *args, path: str, srid: int | None, from_gcj02: bool, layer: str | None, **options) -> None:
        try:
            if Path(path).suffix.lower() == ".csv":
                try:
                    text = Path(path).read_text(encoding="utf-8-sig")
                except (OSError, UnicodeDecodeError) as exc:
                    raise CommandError(f"cannot read {path}: {exc}") from exc
                created, updated = import_csv(text)
            else:
                created, updated = import_gis(Path(path), srid=srid, from_gcj02=from_gcj02, layer_name=layer)
        except SensorImportError as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        self.stdout.write(f"{created} sensors created, {updated} updated")
