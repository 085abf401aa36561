"""OpenAPI description of the grid's GeoJSON features, whose geometry is sent simplified for the map's zoom
through a method field (which drf-spectacular's GeoJSON support leaves undescribed, with a warning)."""

from drf_spectacular.contrib.rest_framework_gis import GeoFeatureModelSerializerExtension
from rest_framework_gis.fields import GeometrySerializerMethodField

from .serializers import GEOJSON_GEOMETRY


class SimplifiedGeometryFeatureExtension(GeoFeatureModelSerializerExtension):
    priority = 1  # before drf-spectacular's own extension for GeoJSON features

    def map_serializer(self, auto_schema, direction):
        field = self.target.fields[self.target.Meta.geo_field]
        if not isinstance(field, GeometrySerializerMethodField):
            return super().map_serializer(auto_schema, direction)
        base = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        properties = {"type": {"type": "string", "enum": ["Feature"]}}
        if self.target.Meta.id_field:
            properties["id"] = base["properties"].pop(self.target.Meta.id_field)
        base["properties"].pop(self.target.Meta.geo_field, None)
        moved = {self.target.Meta.id_field, self.target.Meta.geo_field}
        base["required"] = [name for name in base.get("required", []) if name not in moved]
        base.pop("description", None)
        properties["geometry"] = GEOJSON_GEOMETRY
        properties["properties"] = base
        return {"type": "object", "properties": properties}
