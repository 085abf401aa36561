"""The gazetteer's API: geocoding and reverse geocoding for staff, and the public report page's address search
(only an address's text and point, rate-limited per address)."""

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django_ratelimit.core import is_ratelimited
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from citygrid.audit import record
from citygrid.policy import allows

from .search import MAX_QUERY, geocode, reverse

MAX_LIMIT = 20


class GeocodeQuery(serializers.Serializer):
    q = serializers.CharField(max_length=MAX_QUERY, help_text=_("An address, a landmark or a road, as said"))
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=10)


class ReverseQuery(serializers.Serializer):
    lon = serializers.FloatField(min_value=-180, max_value=180, help_text=_("WGS84 longitude"))
    lat = serializers.FloatField(min_value=-90, max_value=90, help_text=_("WGS84 latitude"))


class Geocode(APIView):
    """Candidates for an address as typed or said (typos, 号院/栋, full-width digits, no district), best first,
    each with a score in [0, 1]."""

    @extend_schema(parameters=[GeocodeQuery],
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="candidates")})
    def get(self, request):
        params = GeocodeQuery(data=request.query_params)
        params.is_valid(raise_exception=True)
        found = geocode(params.validated_data["q"], params.validated_data["limit"])
        return Response({"results": [c.as_dict() for c in found]})


class Reverse(APIView):
    """The nearest door number to a point, its road, and the distance in metres."""

    @extend_schema(parameters=[ReverseQuery],
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="the nearest door number"),
                              404: OpenApiResponse(OpenApiTypes.OBJECT,
                                                   description="no door number within GAZETTEER_REVERSE_MAX_M")})
    def get(self, request):
        params = ReverseQuery(data=request.query_params)
        params.is_valid(raise_exception=True)
        nearest = reverse(params.validated_data["lon"], params.validated_data["lat"])
        if nearest is None:
            return Response({"detail": _("No door number within %(m)d m.") % {"m": settings.GAZETTEER_REVERSE_MAX_M},
                             "code": "no_address"}, status=404)
        return Response(nearest.as_dict())


def _json(data, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})


def public_geocode(request: HttpRequest) -> JsonResponse:
    """The public report page's address search: each candidate's text and point only, rate-limited per
    address (PUBLIC_GEOCODE_RATE)."""
    if request.method != "GET":
        return _json({"detail": _("Method not allowed.")}, status=405)
    if not allows(request.user, request.method, request.resolver_match.view_name):
        return _json({"detail": _("Not allowed.")}, status=403)
    if is_ratelimited(request, group="public-geocode", key=lambda g, r: f"ip:{r.META.get('REMOTE_ADDR', '')}",
                      rate=lambda g, r: settings.PUBLIC_GEOCODE_RATE, increment=True):
        record("rate_limited", request=request, target=request.path[:200], result="denied")
        return _json({"detail": _("Too many requests; wait a minute and try again.")}, status=429)
    query = request.GET.get("q", "").strip()
    if not query:
        return _json({"q": [_("This field is required.")]}, status=400)
    if len(query) > MAX_QUERY:
        return _json({"q": [_("At most %(n)d characters.") % {"n": MAX_QUERY}]}, status=400)
    found = [c for c in geocode(query, 8) if c.score >= 0.35]
    return _json({"results": [{"text": c.text, "lon": round(c.lon, 6), "lat": round(c.lat, 6)} for c in found]})
