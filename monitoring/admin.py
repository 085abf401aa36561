from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import AlarmEpisode, Gateway, Rejection, Sensor, SensorKind, Silence


@admin.register(SensorKind)
class SensorKindAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "unit", "physical_min", "physical_max", "category", "emergency",
                    "warn_above", "alarm_above", "warn_below", "alarm_below"]
    search_fields = ["code", "name"]


@admin.register(Sensor)
class SensorAdmin(LeafletGeoAdmin):
    list_display = ["code", "name", "kind", "owner", "district", "cell", "interval_s", "active", "state", "last_time"]
    list_filter = ["kind", "active", "state", "district", "owner"]
    search_fields = ["code", "name", "watched_object"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["cell", "district", "state", "last_value", "last_time", "flapping"]
    list_select_related = ["kind", "owner", "district", "cell"]


@admin.register(AlarmEpisode)
class AlarmEpisodeAdmin(admin.ModelAdmin):
    list_display = ["sensor", "level", "peak_level", "started_at", "peak_value", "ended_at", "case"]
    list_filter = ["level", "peak_level"]
    search_fields = ["sensor__code"]
    list_select_related = ["sensor", "case"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the alarm engine's record

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Silence)
class SilenceAdmin(AlarmEpisodeAdmin):
    list_display = ["sensor", "started_at", "ended_at", "case"]
    list_filter = []


@admin.register(Rejection)
class RejectionAdmin(AlarmEpisodeAdmin):
    list_display = ["day", "reason", "count", "last_example", "updated_at"]
    list_filter = ["reason"]
    search_fields = []
    list_select_related = []


@admin.register(Gateway)
class GatewayAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "bureau", "active"]
    autocomplete_fields = ["bureau"]
