from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer, GeometrySerializerMethodField

from .models import Area, Bureau, Cell, Generation, Level


class BureauSerializer(serializers.ModelSerializer):
    district = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = Bureau
        fields = ["code", "name", "kind", "kind_label", "district", "contact_name", "contact_phone",
                  "contact_email", "active"]


class InspectorSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "name"]

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username


GEOJSON_GEOMETRY = {"type": "object", "description": "GeoJSON geometry (WGS84)"}


def _display_geom(obj):
    # Views annotate a simplified geometry when a zoom level is asked for.
    return getattr(obj, "display_geom", None) or obj.geom


class AreaFeatureSerializer(GeoFeatureModelSerializer):
    geometry = GeometrySerializerMethodField()
    parent = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    level_label = serializers.CharField(source="get_level_display", read_only=True)

    class Meta:
        model = Area
        geo_field = "geometry"
        id_field = "code"
        fields = ["code", "name", "level", "level_label", "parent"]

    @extend_schema_field(GEOJSON_GEOMETRY)
    def get_geometry(self, obj):
        return _display_geom(obj)


class AreaDetailSerializer(AreaFeatureSerializer):
    bureaus = BureauSerializer(many=True, read_only=True)

    class Meta(AreaFeatureSerializer.Meta):
        fields = [*AreaFeatureSerializer.Meta.fields, "bureaus"]


class CellFeatureSerializer(GeoFeatureModelSerializer):
    geometry = GeometrySerializerMethodField()
    community = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    street = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    district = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = Cell
        geo_field = "geometry"
        id_field = "code"
        fields = ["code", "community", "street", "district"]

    @extend_schema_field(GEOJSON_GEOMETRY)
    def get_geometry(self, obj):
        return _display_geom(obj)


class AreaRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Area
        fields = ["code", "name", "level"]


class CellDetailSerializer(CellFeatureSerializer):
    community = AreaRefSerializer(read_only=True)
    street = AreaRefSerializer(read_only=True)
    district = AreaRefSerializer(read_only=True)
    inspectors = InspectorSerializer(many=True, read_only=True)
    bureaus = BureauSerializer(many=True, read_only=True)
    area_bureaus = serializers.SerializerMethodField(help_text=_("Bureaus responsible for the areas above."))
    area_m2 = serializers.SerializerMethodField()

    class Meta(CellFeatureSerializer.Meta):
        fields = [*CellFeatureSerializer.Meta.fields, "inspectors", "bureaus", "area_bureaus", "area_m2"]

    def get_area_bureaus(self, cell) -> list[dict]:
        areas = [cell.community, cell.street, cell.district]
        seen, out = set(), []
        for area in areas:
            for bureau in area.bureaus.all():
                if bureau.pk not in seen:
                    seen.add(bureau.pk)
                    out.append({**BureauSerializer(bureau).data, "via": area.code})
        return out

    def get_area_m2(self, cell) -> float | None:
        return round(cell.area_m2, 1) if getattr(cell, "area_m2", None) is not None else None


class GenerationQuerySerializer(serializers.Serializer):
    generation = serializers.IntegerField(required=False, min_value=1,
                                          help_text=_("A boundary generation (default: the active one)."))

    def validate_generation(self, value: int) -> int:
        if not Generation.objects.filter(pk=value).exists():
            raise serializers.ValidationError(_("No such boundary generation."))
        return value


class GridQuerySerializer(GenerationQuerySerializer):
    """Query parameters shared by the area and cell collections."""

    bbox = serializers.CharField(required=False, help_text="minLon,minLat,maxLon,maxLat (WGS84)")
    zoom = serializers.IntegerField(required=False, min_value=0, max_value=22,
                                    help_text=_("Map zoom: geometry is simplified to about half a pixel."))

    def validate_bbox(self, value: str) -> tuple[float, float, float, float]:
        try:
            parts = tuple(float(p) for p in value.split(","))
        except ValueError:
            parts = ()
        if len(parts) != 4:
            raise serializers.ValidationError(_("Give four numbers: minLon,minLat,maxLon,maxLat."))
        minx, miny, maxx, maxy = parts
        if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
            raise serializers.ValidationError(_("Not a WGS84 box: need min < max within ±180/±90."))
        return parts


class AreaQuerySerializer(GridQuerySerializer):
    level = serializers.ChoiceField(choices=[(lv.name.lower(), lv.label) for lv in Level], required=False)
    parent = serializers.CharField(required=False, help_text=_("Code of the parent area."))


class CellQuerySerializer(GridQuerySerializer):
    area = serializers.CharField(required=False,
                                 help_text=_("Code of a district, street or community: its cells only."))


class GenerationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Generation
        fields = ["id", "created", "active", "activated_at", "description"]


class LocateQuerySerializer(serializers.Serializer):
    lon = serializers.FloatField(min_value=-180, max_value=180, help_text=_("WGS84 longitude"))
    lat = serializers.FloatField(min_value=-90, max_value=90, help_text=_("WGS84 latitude"))
