"""Checking and normalising uploaded photos: decoded, not trusted by name; orientation applied; metadata
stripped from the stored image (GPS and time kept as fields for staff uploads, dropped for the public)."""

import io
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"}
MAX_SIDE = 2560
THUMB_SIDE = 320


class PhotoError(ValueError):
    pass


@dataclass
class PreparedPhoto:
    image: bytes
    thumbnail: bytes
    width: int
    height: int
    taken_at: datetime | None
    taken_location: Point | None


def _gps(exif) -> Point | None:
    try:
        gps = exif.get_ifd(0x8825)
        if not gps:
            return None

        def deg(values, ref) -> float:
            d, m, s = (float(v) for v in values)
            value = d + m / 60 + s / 3600
            return -value if ref in ("S", "W") else value

        return Point(deg(gps[4], gps[3]), deg(gps[2], gps[1]), srid=4326)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def _taken_at(exif) -> datetime | None:
    raw = exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132)
    try:
        return timezone.make_aware(datetime.strptime(str(raw), "%Y:%m:%d %H:%M:%S")) if raw else None
    except ValueError:
        return None


def _jpeg(img: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def prepare_photo(upload: UploadedFile, *, keep_metadata: bool) -> PreparedPhoto:
    """Decode and normalise one upload; raises PhotoError with a reason a person can act on."""
    if upload.size is not None and upload.size > settings.PHOTO_MAX_BYTES:
        raise PhotoError(f"{upload.name}: larger than {settings.PHOTO_MAX_BYTES // (1024 * 1024)} MB")
    data = upload.read()
    if len(data) > settings.PHOTO_MAX_BYTES:
        raise PhotoError(f"{upload.name}: larger than {settings.PHOTO_MAX_BYTES // (1024 * 1024)} MB")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in ALLOWED_FORMATS:
                raise PhotoError(f"{upload.name}: {probe.format or 'unknown'} is not a JPEG, PNG or WebP photo")
            if probe.width * probe.height > settings.PHOTO_MAX_PIXELS:
                raise PhotoError(f"{upload.name}: {probe.width}×{probe.height} pixels is too many")
            probe.verify()
        img = Image.open(io.BytesIO(data))
        img.load()
    except PhotoError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise PhotoError(f"{upload.name}: not a readable image") from exc
    exif = img.getexif()
    taken_at = _taken_at(exif) if keep_metadata else None
    taken_location = _gps(exif) if keep_metadata else None
    img = ImageOps.exif_transpose(img)
    img.thumbnail((MAX_SIDE, MAX_SIDE))
    thumb = img.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return PreparedPhoto(_jpeg(img, 85), _jpeg(thumb, 75), img.width, img.height, taken_at, taken_location)
