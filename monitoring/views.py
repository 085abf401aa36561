"""The monitoring API: thin views over monitoring's rules; every URL is declared in citygrid.policy."""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib.gis.geos import Polygon
from django.db.models import Case, When
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from citygrid.policy import PolicyPermission
from citygrid.scopes import scoped_object
from grids.serializers import GridQuerySerializer

from . import ingest, readings, registry
from .models import Gateway, SensorState, hash_key
from .scoping import visible_sensors


class SensorQuery(GridQuerySerializer):
    state = serializers.ChoiceField(choices=SensorState.choices, required=False)


class SensorList(APIView):
    """The sensors the user may see in a map view (bbox, WGS84; without one, all of them) as a GeoJSON
    FeatureCollection — the console's sensor layer. At most SENSOR_MAP_MAX, those in alarm first (`truncated`
    says so): a city's ten thousand sensors are never sent to a page whole."""

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="monitoring_sensors_list", parameters=[SensorQuery])
    def get(self, request):
        params = SensorQuery(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = params.validated_data
        found = visible_sensors(request.user)
        if "bbox" in query:
            found = found.filter(position__intersects=Polygon.from_bbox(query["bbox"]))
        if "state" in query:
            found = found.filter(state=query["state"])
        limit = settings.SENSOR_MAP_MAX
        rows = list(found.select_related("kind", "owner", "district", "cell")
                    .order_by(Case(When(state=SensorState.ALARM, then=0), When(state=SensorState.WARNING, then=1),
                                   default=2), "code")[:limit + 1])
        return Response({"type": "FeatureCollection", "truncated": len(rows) > limit,
                         "features": [registry.summary(s) for s in rows[:limit]]})


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


GATEWAY_BATCH_MAX = 5000


class ReadingBatch(APIView):
    """Readings from a gateway that cannot speak MQTT: `Authorization: Gateway <key>`, a JSON body
    `{"readings": [{"sensor", "t", "v", "seq"}, …]}`. Checked as the MQTT ingest checks them; a retry of the same
    batch stores nothing twice. The answer says how many were stored, already there, and which were refused why."""

    authentication_classes: list = []  # the gateway's own key, below; no user session or API token
    permission_classes = [PolicyPermission]

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, auth=[])
    def post(self, request):
        gateway = _gateway(request)
        if gateway is None:
            return Response({"detail": _("A valid gateway key is required: Authorization: Gateway <key>.")},
                            status=401, headers={"WWW-Authenticate": "Gateway"})
        items = request.data.get("readings") if isinstance(request.data, dict) else None
        if not isinstance(items, list) or not items:
            return Response({"readings": [_("Give a non-empty list of readings.")]}, status=400)
        if len(items) > GATEWAY_BATCH_MAX:
            return Response({"readings": [_("At most %(n)d readings at once.") % {"n": GATEWAY_BATCH_MAX}]},
                            status=400)
        pairs = [((item.get("sensor") if isinstance(item, dict) else None), item) for item in items]
        pairs = [(code if isinstance(code, str) else "", item) for code, item in pairs]
        registry = ingest.Registry(lambda: readings.sensor_table(gateway.bureau_id))
        result = ingest.process(pairs, registry, alarm_hook())
        return Response({"stored": result.stored, "duplicates": result.duplicates,
                         "refused": [{"index": i, "reason": r} for i, r in result.refused_items]})


def _gateway(request) -> Gateway | None:
    scheme, _sep, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme != "Gateway" or not key.strip():
        return None
    return Gateway.objects.filter(key_hash=hash_key(key.strip()), active=True).first()


def alarm_hook():
    """What runs on newly stored readings (the alarm engine), as for the MQTT ingest."""
    from .alarms import on_stored

    return on_stored


class PeriodQuery(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()

    def validate(self, data: dict) -> dict:
        if data["start"] >= data["end"]:
            raise serializers.ValidationError({"end": [_("Must be after the start.")]})
        return data


class AlarmSummary(APIView):
    """Alarm episodes of the user's sensors that started in [start, end), by kind and district."""

    @extend_schema(parameters=[PeriodQuery], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        query = PeriodQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        zone = timezone.get_current_timezone()
        start, end = (datetime.combine(query.validated_data[k], time.min, zone) for k in ("start", "end"))
        return Response({"results": registry.alarms_by_kind_and_district(visible_sensors(request.user), start, end)})
