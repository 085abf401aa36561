"""GET/POST /api/datums/convert: points from one datum to another, for other departments' systems (an API
token, as the rest of the API). GET `?from=gcj02&to=wgs84&points=lon,lat;lon,lat`, POST
`{"from": "bd09", "to": "cgcs2000", "points": [[lon, lat], …]}`; the answer keeps the order of the points."""

import math

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from .datums import DATUMS
from .datums import convert as convert_points

# What the answer can be trusted to (README, "Datums as a service"): the published formulas to their printed
# precision, the iterated inverses to 1e-9°, WGS84 and CGCS2000 taken as one (their difference: centimetres to
# decimetres). Not the map providers' own servers, whose answers for the inverse are a one-step approximation.
ERROR_BOUND_M = {"formula": 0.001, "wgs84_cgcs2000": 0.5}


def _datum(value, field: str, errors: dict) -> str:
    value = str(value or "").strip().lower()
    if value not in DATUMS:
        errors[field] = [_("Give one of: %(datums)s.") % {"datums": ", ".join(DATUMS)}]
    return value


def _number(value) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


def _points(raw, errors: dict) -> list[tuple[float, float]]:
    if isinstance(raw, str):
        raw = [p.split(",") for p in raw.split(";") if p.strip()]
    if not isinstance(raw, list) or not raw:
        errors["points"] = [_("Give at least one point as lon,lat.")]
        return []
    if len(raw) > settings.DATUM_MAX_POINTS:
        errors["points"] = [_("At most %(n)d points in one request.") % {"n": settings.DATUM_MAX_POINTS}]
        return []
    points = []
    for i, p in enumerate(raw):
        try:
            if not isinstance(p, list | tuple) or len(p) != 2:
                raise ValueError
            lon, lat = _number(p[0]), _number(p[1])
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValueError
        except (TypeError, ValueError):
            errors["points"] = [_("Point %(i)d is not a longitude,latitude pair in range.") % {"i": i + 1}]
            return []
        points.append((lon, lat))
    return points


_DATUM = serializers.ChoiceField(choices=DATUMS)
_POINTS = serializers.ListField(child=serializers.ListField(child=serializers.FloatField(), min_length=2,
                                                            max_length=2), min_length=1)
_ANSWER = inline_serializer("DatumConversion", {"from": _DATUM, "to": _DATUM, "points": _POINTS,
                                                "error_bound_m": serializers.FloatField()})


class Convert(APIView):
    @extend_schema(parameters=[OpenApiParameter("from", OpenApiTypes.STR, enum=list(DATUMS), required=True),
                               OpenApiParameter("to", OpenApiTypes.STR, enum=list(DATUMS), required=True),
                               OpenApiParameter("points", OpenApiTypes.STR, required=True,
                                                description="lon,lat;lon,lat…")],
                   responses={200: _ANSWER})
    def get(self, request):
        return self._answer(request.query_params)

    @extend_schema(request=inline_serializer("DatumPoints", {"from": _DATUM, "to": _DATUM, "points": _POINTS}),
                   responses={200: _ANSWER})
    def post(self, request):
        if not isinstance(request.data, dict):
            raise ValidationError({"points": [_("Send a JSON object with from, to and points.")]})
        return self._answer(request.data)

    def _answer(self, data) -> Response:
        errors: dict = {}
        source, target = _datum(data.get("from"), "from", errors), _datum(data.get("to"), "to", errors)
        points = _points(data.get("points"), errors)
        if errors:
            raise ValidationError(errors)
        converted = convert_points(points, source, target)
        bound = 0.0
        if {"gcj02", "bd09"} & {source, target} and source != target:
            bound += ERROR_BOUND_M["formula"]
        if (source == "cgcs2000") != (target == "cgcs2000"):  # GCJ-02 and BD-09 are offsets of WGS84
            bound += ERROR_BOUND_M["wgs84_cgcs2000"]
        return Response({"from": source, "to": target, "points": [[round(x, 9), round(y, 9)] for x, y in converted],
                         "error_bound_m": bound})


convert = Convert.as_view()
