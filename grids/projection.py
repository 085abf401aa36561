"""Coordinate transforms between the stored WGS84 and metric projections, with PROJ objects reused
(building one costs tens of milliseconds, transforming a cell with it microseconds)."""

from functools import lru_cache

from django.contrib.gis.gdal import CoordTransform, SpatialReference
from django.contrib.gis.geos import GEOSGeometry

STORAGE_SRID = 4326


@lru_cache(maxsize=32)
def coord_transform(source_srid: int, target_srid: int) -> CoordTransform:
    return CoordTransform(SpatialReference(source_srid), SpatialReference(target_srid))


def transformed(geom: GEOSGeometry, target_srid: int) -> GEOSGeometry:
    """A copy of `geom` in `target_srid`."""
    if geom.srid == target_srid:
        return geom.clone()
    return geom.transform(coord_transform(geom.srid, target_srid), clone=True)


def metric_srid_for(lon: float) -> int:
    """The CGCS2000 3-degree Gauss-Krüger zone (EPSG:4534 = CM 75°E … 4554 = CM 135°E) for a longitude."""
    central = min(max(round(lon / 3) * 3, 75), 135)
    return 4534 + (central - 75) // 3
