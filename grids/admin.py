from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Area, Bureau, Cell, Generation, Lattice


@admin.register(Bureau)
class BureauAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "district", "contact_name", "contact_phone", "supervisor", "active"]
    list_filter = ["kind", "district", "active"]
    search_fields = ["code", "name", "contact_name"]
    autocomplete_fields = ["supervisor"]


class _HistoryReadOnly:
    """A row no longer in the active generation is history (cases point at it): shown, not edited."""

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not obj.is_current:
            return [f.name for f in obj._meta.fields] + [m.name for m in obj._meta.many_to_many]
        return [*super().get_readonly_fields(request, obj), "generation_low", "generation_high"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return (obj is None or obj.is_current) and super().has_delete_permission(request, obj)


@admin.register(Area)
class AreaAdmin(_HistoryReadOnly, LeafletGeoAdmin):
    list_display = ["code", "name", "level", "parent", "generation_low", "generation_high", "is_current"]
    list_filter = ["is_current", "level"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["parent"]
    filter_horizontal = ["bureaus"]
    list_select_related = ["parent"]


@admin.register(Cell)
class CellAdmin(_HistoryReadOnly, LeafletGeoAdmin):
    list_display = ["code", "community", "street", "district", "generation_low", "generation_high", "is_current"]
    list_filter = ["is_current", "district"]
    search_fields = ["code", "community__name", "community__code"]
    autocomplete_fields = ["community", "inspectors"]
    filter_horizontal = ["bureaus"]
    list_select_related = ["community", "street", "district"]
    readonly_fields = ["street", "district"]


@admin.register(Lattice)
class LatticeAdmin(admin.ModelAdmin):
    list_display = ["srid", "size"]

    def has_add_permission(self, request) -> bool:
        return False  # created by generate_cells only


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    """Generations are made by import_areas/generate_cells --new-generation and switched by
    activate_generation (which moves the live references too): here they are only read and described."""

    list_display = ["id", "created", "active", "activated_at", "description"]
    readonly_fields = ["created", "active", "activated_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
