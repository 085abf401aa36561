from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from grids.models import Bureau
from grids.serializers import GridQuerySerializer

from .models import Accuracy, Status

MAX_RADIUS_M = 500


class ComponentQuerySerializer(GridQuerySerializer):
    subclass = serializers.CharField(required=False, help_text=_("a catalogue subclass code, e.g. BJ0108"))
    status = serializers.ChoiceField(choices=Status.choices, required=False)


class NearestQuerySerializer(serializers.Serializer):
    lon = serializers.FloatField(min_value=-180, max_value=180)
    lat = serializers.FloatField(min_value=-90, max_value=90)
    subclass = serializers.RegexField(r"^BJ\d{4}$", help_text=_("a catalogue subclass code, e.g. BJ0108"))
    radius = serializers.FloatField(required=False, min_value=0, max_value=MAX_RADIUS_M, default=None,
                                    help_text=_("metres; default: the report's accuracy plus the components'"))
    accuracy = serializers.FloatField(required=False, min_value=0, max_value=MAX_RADIUS_M, default=10,
                                      help_text=_("the reporting device's GPS accuracy, metres"))
    limit = serializers.IntegerField(required=False, min_value=1, max_value=20, default=5)


class ComponentChangeSerializer(serializers.Serializer):
    """The fields staff change after the census (变更); every change is recorded in the history."""

    name = serializers.CharField(required=False, max_length=100, allow_blank=True)
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    accuracy = serializers.ChoiceField(choices=Accuracy.choices, required=False)
    owner = serializers.CharField(required=False, max_length=100, allow_blank=True)
    maintainer = serializers.CharField(required=False, max_length=100, allow_blank=True)
    survey_date = serializers.DateField(required=False, allow_null=True)
    bureau = serializers.SlugRelatedField(slug_field="code", queryset=Bureau.objects.all(), required=False,
                                          allow_null=True)
    lon = serializers.FloatField(required=False, min_value=-180, max_value=180)
    lat = serializers.FloatField(required=False, min_value=-90, max_value=90)
    note = serializers.CharField(required=False, max_length=200, allow_blank=True)

    def validate(self, data: dict) -> dict:
        if ("lon" in data) != ("lat" in data):
            raise serializers.ValidationError({"lon": [_("Give both lon and lat to move a component.")]})
        return data


class UnderHereQuerySerializer(serializers.Serializer):
    lon = serializers.FloatField(required=False, min_value=-180, max_value=180)
    lat = serializers.FloatField(required=False, min_value=-90, max_value=90)
    line = serializers.CharField(required=False, help_text=_("a drawn line: lon,lat;lon,lat;… (WGS84)"))
    radius = serializers.FloatField(required=False, min_value=0, max_value=200, default=5,
                                    help_text=_("metres around the point or line"))

    def validate_line(self, value: str) -> list[tuple[float, float]]:
        try:
            points = [tuple(float(v) for v in pair.split(",")) for pair in value.split(";") if pair.strip()]
        except ValueError:
            points = []
        if len(points) < 2 or len(points) > 200 or any(
                len(p) != 2 or not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90) for p in points):
            raise serializers.ValidationError(_("Give 2 to 200 WGS84 points: lon,lat;lon,lat…"))
        return points

    def validate(self, data: dict) -> dict:
        has_point = "lon" in data and "lat" in data
        if has_point == ("line" in data) or (("lon" in data) != ("lat" in data)):
            raise serializers.ValidationError({"lon": [_("Give a point (lon and lat) or a line, not both.")]})
        return data


class FlowQuerySerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=[("down", _("Downstream")), ("up", _("Upstream"))],
                                        default="down")
