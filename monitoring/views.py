"""The monitoring API: thin views over monitoring's rules; every URL is declared in citygrid.policy."""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from citygrid.scopes import scoped_object

from . import readings, registry
from .scoping import visible_sensors


class SensorList(APIView):
    """The sensors the user may see, as a GeoJSON FeatureCollection (the console's sensor layer)."""

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="monitoring_sensors_list")
    def get(self, request):
        found = visible_sensors(request.user).select_related("kind", "owner", "district", "cell")
        return Response({"type": "FeatureCollection", "features": [registry.summary(s) for s in found]})


class SensorDetail(APIView):
    """One sensor with its thresholds and latest alarm episodes."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, code: str):
        return Response(registry.summary(scoped_object(request), detail=True))


class ChartQuery(serializers.Serializer):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)

    def validate(self, data: dict) -> dict:
        end = data.get("end") or timezone.now()
        start = data.get("start") or end - timedelta(hours=24)
        if start >= end:
            raise serializers.ValidationError({"start": [_("Must be before the end.")]})
        if end - start > timedelta(days=3660):
            raise serializers.ValidationError({"start": [_("At most ten years.")]})
        return {"start": start, "end": end}


class SensorChart(APIView):
    """A sensor's readings between start and end (default: the last 24 hours), binned to about 300 points from
    the raw table, the minute or the hour rollups as the span needs."""

    @extend_schema(parameters=[ChartQuery], responses=OpenApiTypes.OBJECT)
    def get(self, request, code: str):
        query = ChartQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(readings.chart(scoped_object(request), **query.validated_data))
