"""Datum conversion between the datums maps in China use: WGS84 (GPS, OpenStreetMap), CGCS2000 (the national
datum, Tianditu), GCJ-02 (AMap, Tencent) and BD-09 (Baidu).

WGS84 and CGCS2000 are taken as the same here: they differ by centimetres to decimetres (the realisations and
plate motion since epoch 2000.0), below what a city's map or a GPS phone resolves. GCJ-02 is WGS84 plus the
published offset (grids.gcj02); BD-09 is GCJ-02 plus Baidu's published second offset, whose inverse has no
closed form either: both inverses are solved by iteration, to below 1e-9° (0.1 mm).
"""

import math
from collections.abc import Callable

from grids.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02

DATUMS = ("wgs84", "cgcs2000", "gcj02", "bd09")
_X_PI = math.pi * 3000.0 / 180.0


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """Baidu's published forward formula: a small rotation and scaling about the origin, then a shift."""
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """The inverse, by fixed-point iteration from the usual closed-form approximation (which alone is off by up
    to about 1e-6°, a decimetre): corrected until the forward formula gives the input back to 1e-10°."""
    x, y = lon - 0.0065, lat - 0.006
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    glon, glat = z * math.cos(theta), z * math.sin(theta)
    for _ in range(20):
        blon, blat = gcj02_to_bd09(glon, glat)
        dlon, dlat = blon - lon, blat - lat
        glon, glat = glon - dlon, glat - dlat
        if abs(dlon) < 1e-10 and abs(dlat) < 1e-10:
            break
    return glon, glat


def _identity(lon: float, lat: float) -> tuple[float, float]:
    return lon, lat


def _to_wgs84(datum: str) -> Callable[[float, float], tuple[float, float]]:
    if datum == "gcj02":
        return gcj02_to_wgs84
    if datum == "bd09":
        return lambda lon, lat: gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
    return _identity


def _from_wgs84(datum: str) -> Callable[[float, float], tuple[float, float]]:
    if datum == "gcj02":
        return wgs84_to_gcj02
    if datum == "bd09":
        return lambda lon, lat: gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))
    return _identity


def converter(source: str, target: str) -> Callable[[float, float], tuple[float, float]]:
    """A function (lon, lat) → (lon, lat) from one datum of DATUMS to another (GCJ-02 ↔ BD-09 directly)."""
    if source == target or {source, target} == {"wgs84", "cgcs2000"}:
        return _identity
    if (source, target) == ("gcj02", "bd09"):
        return gcj02_to_bd09
    if (source, target) == ("bd09", "gcj02"):
        return bd09_to_gcj02
    inward, outward = _to_wgs84(source), _from_wgs84(target)
    return lambda lon, lat: outward(*inward(lon, lat))


def convert(points: list[tuple[float, float]], source: str, target: str) -> list[tuple[float, float]]:
    fn = converter(source, target)
    return [fn(lon, lat) for lon, lat in points]
