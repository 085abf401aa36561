"""The monitoring API: thin views over monitoring's rules; every URL is declared in citygrid.policy."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from citygrid.scopes import scoped_object

from . import registry
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
