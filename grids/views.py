from django.conf import settings
from django.contrib.gis.db.models import GeometryField
from django.contrib.gis.db.models.functions import GeoFunc
from django.contrib.gis.geos import Polygon
from django.db.models import FloatField, Func, Q
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_gis.pagination import GeoJsonPagination

from . import locate as locating
from .models import Area, Bureau, Cell, Generation, Level
from .serializers import (
    AreaDetailSerializer,
    AreaFeatureSerializer,
    AreaQuerySerializer,
    BureauSerializer,
    CellDetailSerializer,
    CellFeatureSerializer,
    CellQuerySerializer,
    GenerationQuerySerializer,
    GenerationSerializer,
    LocateQuerySerializer,
)

# Half a pixel at a zoom level, in degrees, at 256-pixel tiles.
_DEGREES_PER_PIXEL_Z0 = 360.0 / 256.0


class SimplifyPreserveTopology(GeoFunc):
    function = "ST_SimplifyPreserveTopology"
    output_field = GeometryField(srid=4326)


class GeodesicArea(Func):
    template = "ST_Area(%(expressions)s::geography)"
    output_field = FloatField()


class FeaturePagination(GeoJsonPagination):
    page_size = 200
    max_page_size = 2000

    def get_paginated_response_schema(self, schema: dict) -> dict:
        """The page as it is sent: a FeatureCollection with count/next/previous (the parent class's schema
        still requires DRF's `results`, which a GeoJSON page does not have)."""
        link = {"type": "string", "format": "uri", "nullable": True}
        page = {"type": "object", "required": ["type", "count", "features"], "properties": {
            "count": {"type": "integer"}, "next": link, "previous": link}}
        return {"allOf": [schema, page]}  # schema: the serializer's FeatureCollection (type, features)


def _in_generation(qs, query: dict):
    """The active generation's rows, or those of `?generation=N` (an old or pending one)."""
    return qs.in_generation(query["generation"]) if "generation" in query else qs.current()


class _GenerationDetail(generics.RetrieveAPIView):
    lookup_field = "code"

    def generation_query(self) -> dict:
        params = GenerationQuerySerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return params.validated_data


_GENERATION_PARAM = OpenApiParameter("generation", OpenApiTypes.INT,
                                     description="a boundary generation (default: the active one)")


class _GridCollection(generics.ListAPIView):
    pagination_class = FeaturePagination
    query_serializer_class: type[serializers.Serializer]

    def query(self) -> dict:
        if not hasattr(self, "_query"):
            params = self.query_serializer_class(data=self.request.query_params)
            params.is_valid(raise_exception=True)
            self._query = params.validated_data
        return self._query

    def shaped(self, qs):
        query = self.query()
        if "bbox" in query:
            qs = qs.filter(geom__intersects=Polygon.from_bbox(query["bbox"]))
        if "zoom" in query:
            tolerance = _DEGREES_PER_PIXEL_Z0 / 2 ** query["zoom"] / 2
            qs = qs.defer("geom").annotate(display_geom=SimplifyPreserveTopology("geom", tolerance))
        return qs


_GRID_PARAMS = [
    _GENERATION_PARAM,
    OpenApiParameter("bbox", OpenApiTypes.STR, description="minLon,minLat,maxLon,maxLat (WGS84)"),
    OpenApiParameter("zoom", OpenApiTypes.INT, description="simplify geometry for this map zoom"),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="features per page (max 2000)"),
]


@extend_schema(parameters=[*_GRID_PARAMS,
                           OpenApiParameter("level", OpenApiTypes.STR,
                                            enum=[lv.name.lower() for lv in Level]),
                           OpenApiParameter("parent", OpenApiTypes.STR, description="parent area code")])
class AreaList(_GridCollection):
    """Areas (city, districts, streets, communities) as a GeoJSON FeatureCollection."""

    serializer_class = AreaFeatureSerializer
    query_serializer_class = AreaQuerySerializer

    def get_queryset(self):
        query = self.query()
        qs = _in_generation(Area.objects, query).select_related("parent").order_by("code")
        if "level" in query:
            qs = qs.filter(level=Level[query["level"].upper()])
        if "parent" in query:
            qs = qs.filter(parent__code=query["parent"])
        return self.shaped(qs)


@extend_schema(parameters=[_GENERATION_PARAM])
class AreaDetail(_GenerationDetail):
    """One area as a GeoJSON Feature, with the bureaus responsible for it."""

    serializer_class = AreaDetailSerializer

    def get_queryset(self):
        return (_in_generation(Area.objects, self.generation_query()).select_related("parent")
                .prefetch_related("bureaus__district"))


@extend_schema(parameters=[*_GRID_PARAMS,
                           OpenApiParameter("area", OpenApiTypes.STR,
                                            description="code of a district, street or community")])
class CellList(_GridCollection):
    """Unit grid cells as a GeoJSON FeatureCollection."""

    serializer_class = CellFeatureSerializer
    query_serializer_class = CellQuerySerializer

    def get_queryset(self):
        query = self.query()
        qs = _in_generation(Cell.objects, query).select_related("community", "street", "district").order_by("code")
        if "area" in query:
            code = query["area"]
            qs = qs.filter(Q(community__code=code) | Q(street__code=code) | Q(district__code=code))
        return self.shaped(qs)


@extend_schema(parameters=[_GENERATION_PARAM])
class CellDetail(_GenerationDetail):
    """One cell as a GeoJSON Feature with its areas, inspectors and responsible bureaus."""

    serializer_class = CellDetailSerializer

    def get_queryset(self):
        return (
            _in_generation(Cell.objects, self.generation_query()).select_related("community", "street", "district")
            .prefetch_related("inspectors", "bureaus__district", "community__bureaus__district",
                              "street__bureaus__district", "district__bureaus__district")
            .annotate(area_m2=GeodesicArea("geom"))
        )


class GenerationList(generics.ListAPIView):
    """The boundary generations (grids.generations): the active one, older ones (still queryable with
    `?generation=N`) and a pending one not yet activated."""

    serializer_class = GenerationSerializer
    queryset = Generation.objects.order_by("pk")
    pagination_class = None


class ListPagination(PageNumberPagination):
    """DRF's pages, of the size a client asks for (`page_size`, at most 1000): a filter's list fetched whole."""

    page_size_query_param = "page_size"
    max_page_size = 1000


class BureauList(generics.ListAPIView):
    """Bureaus (委办局/专业部门), city-level and of each district."""

    serializer_class = BureauSerializer
    pagination_class = ListPagination
    queryset = Bureau.objects.select_related("district").order_by("code")


_OUTSIDE = inline_serializer("OutsideJurisdiction", {"detail": serializers.CharField(),
                                                      "code": serializers.CharField(),
                                                      "lon": serializers.FloatField(),
                                                      "lat": serializers.FloatField()})


def _outside_body() -> dict:
    return {"detail": _("This location is outside the city's jurisdiction."), "code": "outside_jurisdiction"}


class Locate(APIView):
    """Which cell, community, street and district a WGS84 point falls in."""

    @extend_schema(
        parameters=[LocateQuerySerializer],
        responses={200: OpenApiResponse(description="the cell and every area above it"),
                   404: OpenApiResponse(_OUTSIDE, description="outside the jurisdiction")},
    )
    def get(self, request):
        params = LocateQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        lon, lat = params.validated_data["lon"], params.validated_data["lat"]
        try:
            location = locating.locate(lon, lat)
        except locating.OutsideJurisdiction:
            return Response({"lon": lon, "lat": lat, **_outside_body()}, status=status.HTTP_404_NOT_FOUND)
        return Response({"lon": lon, "lat": lat, **location.as_dict()})

    @extend_schema(
        request=inline_serializer("LocateBatch", {"points": serializers.ListField(
            child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2))}),
        responses={200: OpenApiResponse(description="one result per point, in order; null when outside")},
    )
    def post(self, request):
        points = request.data.get("points") if isinstance(request.data, dict) else None
        if not isinstance(points, list):
            return Response({"points": [_("Give a list of [lon, lat] pairs.")]}, status=400)
        if len(points) > settings.GRID_LOCATE_BATCH_MAX:
            return Response({"points": [_("At most %(n)d points per request.")
                                        % {"n": settings.GRID_LOCATE_BATCH_MAX}]}, status=400)
        errors = {}
        for index, point in enumerate(points):
            if not (isinstance(point, list | tuple) and len(point) == 2
                    and all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
                    and -180 <= point[0] <= 180 and -90 <= point[1] <= 90):
                errors[str(index)] = [_("Not a WGS84 [lon, lat] pair.")]
                if len(errors) >= 20:
                    break
        if errors:
            return Response({"points": errors}, status=400)
        located = locating.locate_many(points)
        names: dict[str, str] = {}
        results = []
        for location in located:
            if location is None:
                results.append(None)
                continue
            entry = {"cell": location.cell_code}
            for level, ref in location.areas.items():
                entry[level] = ref.code
                names[ref.code] = ref.name
            results.append(entry)
        return Response({"count": len(points), "located": sum(1 for r in results if r),
                         "results": results, "names": names})


class Places(APIView):
    """Places by name or code — districts, streets, communities, cells, and an address gazetteer when one is
    configured (grids.places) — with a point to put on the map."""

    @extend_schema(parameters=[OpenApiParameter("q", OpenApiTypes.STR, required=True),
                               OpenApiParameter("limit", OpenApiTypes.INT)],
                   responses=inline_serializer("PlaceList", {"results": serializers.ListField(
                       child=serializers.DictField())}))
    def get(self, request):
        from .places import MAX_QUERY, search_places

        query = request.query_params.get("q", "")
        try:
            limit = int(request.query_params.get("limit", 10))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 20:
            return Response({"limit": [_("Between %(low)d and %(high)d.") % {"low": 1, "high": 20}]}, status=400)
        if len(query) > MAX_QUERY:
            return Response({"q": [_("At most %(n)d characters.") % {"n": MAX_QUERY}]}, status=400)
        return Response({"results": [p.as_dict() for p in search_places(query, limit)]})
