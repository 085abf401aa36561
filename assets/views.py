import json

from django.conf import settings
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.contrib.gis.geos import Point, Polygon
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.expressions import RawSQL
from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from citygrid.scopes import scoped_object

from . import census, hooks
from .models import ACCURACY_M, Accuracy, Component, Status, subclass_names
from .scoping import visible_components, visible_points, visible_segments
from .serializers import (
    ComponentChangeSerializer,
    ComponentQuerySerializer,
    FlowQuerySerializer,
    NearestQuerySerializer,
    UnderHereQuerySerializer,
)

# Degrees of latitude per metre; longitude degrees are wider by 1/cos(lat).
_DEG_PER_M = 1 / 111_320


def _props(component: Component) -> dict:
    return {"code": component.code, "subclass": component.subclass, "name": component.name,
            "subclass_name": subclass_names().get(component.subclass, component.subclass),
            "status": component.status, "status_label": component.get_status_display(),
            "accuracy": component.accuracy}


class ComponentList(APIView):
    """Components in a map view (bbox, WGS84) as a GeoJSON FeatureCollection; below COMPONENT_MIN_ZOOM none
    are sent (too many to read), and at most COMPONENT_MAP_MAX per view (`truncated` says so)."""

    @extend_schema(operation_id="assets_components_in_view", parameters=[ComponentQuerySerializer],
                   responses={200: OpenApiResponse(description="GeoJSON FeatureCollection")})
    def get(self, request):
        params = ComponentQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = params.validated_data
        if "bbox" not in query:
            return Response({"bbox": [_("Give the map view: minLon,minLat,maxLon,maxLat.")]}, status=400)
        min_zoom, limit = settings.COMPONENT_MIN_ZOOM, settings.COMPONENT_MAP_MAX
        if query.get("zoom", min_zoom) < min_zoom:
            return Response({"type": "FeatureCollection", "features": [], "min_zoom": min_zoom,
                             "truncated": False})
        qs = visible_components(request.user).filter(geom__intersects=Polygon.from_bbox(query["bbox"]))
        if "subclass" in query:
            qs = qs.filter(subclass=query["subclass"])
        if "status" in query:
            qs = qs.filter(status=query["status"])
        # Each feature's JSON is made by PostgreSQL and the page joined here: a view of a few thousand components
        # costs no Python object per feature. Names for people come once per answer, not once per feature.
        rows = list(qs.order_by().annotate(feature=RawSQL(_FEATURE_SQL, [])).values_list("feature", flat=True)
                    [:limit + 1])
        head = json.dumps({"type": "FeatureCollection", "min_zoom": min_zoom, "truncated": len(rows) > limit,
                           "names": subclass_names(), "status_labels": {k: str(v) for k, v in Status.choices}},
                          ensure_ascii=False)
        return HttpResponse(head[:-1] + ', "features": [' + ",".join(rows[:limit]) + "]}",
                            content_type="application/json")


_FEATURE_SQL = """json_build_object(
    'type', 'Feature', 'id', assets_component.code, 'geometry', ST_AsGeoJSON(assets_component.geom, 7)::json,
    'properties', json_build_object('code', assets_component.code, 'subclass', assets_component.subclass,
                                    'name', assets_component.name, 'status', assets_component.status))::text"""


class NearestComponents(APIView):
    """The nearest components of a subclass around a point, within a radius (default: the report's GPS
    accuracy plus the worst survey accuracy, class C's 10 m): what an inspector picks from."""

    @extend_schema(parameters=[NearestQuerySerializer],
                   responses={200: OpenApiResponse(description="components, nearest first, with distance_m")})
    def get(self, request):
        params = NearestQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        q = params.validated_data
        radius = q["radius"] if q["radius"] is not None else q["accuracy"] + ACCURACY_M[Accuracy.C]
        results = nearest(request.user, q["lon"], q["lat"], q["subclass"], radius, q["limit"])
        return Response({"radius_m": radius, "results": results})


def nearest(user, lon: float, lat: float, subclass: str, radius: float, limit: int = 5) -> list[dict]:
    """The visible components of `subclass` within `radius` metres of (lon, lat), nearest first: one statement,
    the box around the point through the spatial index, the exact distance on the spheroid."""
    import math

    dy = radius * _DEG_PER_M
    dx = dy / max(math.cos(math.radians(lat)), 0.01)
    box = Polygon.from_bbox((lon - dx, lat - dy, lon + dx, lat + dy))
    box.srid = 4326
    distance = RawSQL("ST_Distance(assets_component.geom::geography, "
                      "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)", (lon, lat))
    found = (visible_components(user).filter(subclass=subclass, geom__bboverlaps=box).exclude(status="abandoned")
             .annotate(distance_m=distance).filter(distance_m__lte=radius).order_by("distance_m", "code")[:limit])
    out = []
    for component in found:
        anchor = component.anchor()
        out.append({**_props(component), "distance_m": round(component.distance_m, 1),
                    "lon": round(anchor.x, 7), "lat": round(anchor.y, 7)})
    return out


class ComponentDetail(APIView):
    """One component with its history and cases (GET); a census change by staff (PATCH), recorded."""

    @extend_schema(operation_id="assets_component_detail",
                   responses={200: OpenApiResponse(description="the component, its history, cases and pipe point")})
    def get(self, request, code: str):
        component = scoped_object(request)
        return Response(detail(component, request.user))

    @extend_schema(request=ComponentChangeSerializer,
                   responses={200: OpenApiResponse(description="the component as changed")})
    def patch(self, request, code: str):
        component = scoped_object(request)
        params = ComponentChangeSerializer(data=request.data, partial=True)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        note = data.pop("note", "")
        if "lon" in data:
            component.geom = Point(data.pop("lon"), data.pop("lat"), srid=4326)
        for field, value in data.items():
            setattr(component, field, value)
        try:
            with transaction.atomic():
                census.save_component(component, request.user, note=note)
                # A change may not take the component out of the changer's own scope (another bureau, another
                # district): that would also send its cases elsewhere. Checked on the saved, located row.
                if not visible_components(request.user).filter(pk=component.pk).exists():
                    field = "bureau" if "bureau" in data else "lon"
                    raise ValidationError({field: [_("This change would put the component outside what you "
                                                     "may keep; ask the command centre.")]})
        except ValidationError as exc:
            return Response(exc.message_dict, status=400)
        return Response(detail(component, request.user))


def detail(component: Component, user) -> dict:
    geom = json.loads(component.geom.json)
    bureau = component.bureau
    return {
        **_props(component), "geometry": geom, "owner": component.owner, "maintainer": component.maintainer,
        "accuracy_m": component.accuracy_m, "accuracy_label": component.get_accuracy_display(),
        "survey_date": component.survey_date, "photo": bool(component.photo),
        "bureau": {"code": bureau.code, "name": bureau.name} if bureau else None,
        "cell": component.cell.code if component.cell_id else None,
        "district": {"code": component.district.code, "name": component.district.name},
        "history": [{"action": e.action, "action_label": e.get_action_display(), "at": e.created_at,
                     "by": (e.actor.get_full_name() or e.actor.username) if e.actor_id else None,
                     "changes": e.changes, "note": e.note}
                    for e in component.log.select_related("actor").order_by("-created_at", "-id")[:50]],
        "cases": hooks.component_cases(component, user),
        "pipe": pipe_of(component, user),
    }


def pipe_of(component: Component, user) -> dict | None:
    """For a component that is a point of a pressurised network (a hydrant…): the valves to close for a burst
    there (on the first pipe leaving it), so a case about it shows them — to those who may read that network's
    pipes (a component's reader is not always one: an inspector, another bureau's staff)."""
    from . import pipes
    from .models import VALVED_KINDS, PipeSegment
    from .scoping import visible_points, visible_segments

    point = visible_points(user, component.pipe_points.select_related("network")).first()
    if point is None:
        return None
    out = {"point": point.code, "kind": point.kind, "network": point.network.name,
           "network_kind": point.network.kind, "isolation": None}
    if point.network.kind in VALVED_KINDS:
        from django.db.models import Q

        segment = (visible_segments(user, PipeSegment.objects.select_related("network"))
                   .filter(Q(source=point) | Q(target=point), status="in_use").order_by("code").first())
        if segment is not None:
            out["isolation"] = pipes.isolation(segment).as_dict()
    return out


# --- pipes -----------------------------------------------------------------------------------------------------

class PipesInView(APIView):
    """Pipe segments and points in a map view (bbox) as GeoJSON, from COMPONENT_MIN_ZOOM."""

    @extend_schema(parameters=[ComponentQuerySerializer],
                   responses={200: OpenApiResponse(description="GeoJSON FeatureCollection")})
    def get(self, request):
        from .models import PipePoint

        params = ComponentQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = params.validated_data
        if "bbox" not in query:
            return Response({"bbox": [_("Give the map view: minLon,minLat,maxLon,maxLat.")]}, status=400)
        min_zoom, limit = settings.COMPONENT_MIN_ZOOM, settings.COMPONENT_MAP_MAX
        features: list[dict] = []
        if query.get("zoom", min_zoom) >= min_zoom:
            box = Polygon.from_bbox(query["bbox"])
            segments = (visible_segments(request.user).filter(geom__intersects=box).order_by()
                        .annotate(json=AsGeoJSON("geom", precision=7))
                        .values_list("code", "network__kind", "diameter_mm", "status", "json")[:limit])
            features += [{"type": "Feature", "id": code, "geometry": json.loads(geom),
                          "properties": {"layer": "segment", "code": code, "network_kind": kind,
                                         "diameter_mm": diameter, "status": status}}
                         for code, kind, diameter, status, geom in segments]
            points = (visible_points(request.user).filter(geom__intersects=box).exclude(kind="junction").order_by()
                      .annotate(json=AsGeoJSON("geom", precision=7))
                      .values_list("code", "network__kind", "kind", "json")[:limit])
            labels = dict(PipePoint.Kind.choices)
            features += [{"type": "Feature", "id": code, "geometry": json.loads(geom),
                          "properties": {"layer": "point", "code": code, "network_kind": nkind, "kind": kind,
                                         "kind_label": str(labels[kind])}}
                         for code, nkind, kind, geom in points]
        return Response({"type": "FeatureCollection", "features": features, "min_zoom": min_zoom})


class UnderHere(APIView):
    """What is under here (挖掘前管线查询): segments and points within `radius` m of a point or a drawn line."""

    @extend_schema(parameters=[UnderHereQuerySerializer],
                   responses={200: OpenApiResponse(description="segments and points, nearest first")})
    def get(self, request):
        from django.contrib.gis.geos import LineString

        from . import pipes

        params = UnderHereQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        q = params.validated_data
        geom = Point(q["lon"], q["lat"], srid=4326) if "lon" in q else LineString(q["line"], srid=4326)
        lat = q["lat"] if "lat" in q else max(abs(y) for _x, y in q["line"])
        found = pipes.under_here(geom.wkt, lat, q["radius"])
        # Only the pipes the user may see (assets.scoping): one look-up of the few codes found.
        segments = set(visible_segments(request.user).filter(code__in=[s["code"] for s in found["segments"]])
                       .values_list("code", flat=True))
        points = set(visible_points(request.user).filter(code__in=[p["code"] for p in found["points"]])
                     .values_list("code", flat=True))
        found["segments"] = [s for s in found["segments"] if s["code"] in segments]
        found["points"] = [p for p in found["points"] if p["code"] in points]
        return Response(found)




class SegmentIsolation(APIView):
    """Which valves to close (关阀分析) for a burst segment: valves, segments cut off, customers affected."""

    @extend_schema(responses={200: OpenApiResponse(description="valves, segments cut off, customers")})
    def get(self, request, code: str):
        from . import pipes

        segment = scoped_object(request)  # looked up in the user's scope before the view (citygrid.policy)
        try:
            return Response(pipes.isolation(segment).as_dict())
        except pipes.PipeQueryError as exc:
            return Response({"code": [str(exc)]}, status=400)


class SegmentFlow(APIView):
    """Downstream or upstream of a drainage segment: segments and manholes, by distance along the pipes."""

    @extend_schema(parameters=[FlowQuerySerializer],
                   responses={200: OpenApiResponse(description="segments and manholes by distance along the pipes")})
    def get(self, request, code: str):
        from . import pipes

        segment = scoped_object(request)  # looked up in the user's scope before the view (citygrid.policy)
        params = FlowQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        try:
            return Response(pipes.flow(segment, params.validated_data["direction"]))
        except pipes.PipeQueryError as exc:
            return Response({"code": [str(exc)]}, status=400)
