from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from leaflet.admin import LeafletGeoAdmin

from . import census
from .models import CensusChange, Component, ComponentLog, PipeNetwork, PipePoint, PipeSegment


class ComponentLogInline(admin.TabularInline):
    model = ComponentLog
    fields = ["created_at", "action", "actor", "changes", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # the history is written by the census's saves, never by hand

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Component)
class ComponentAdmin(LeafletGeoAdmin):
    list_display = ["code", "subclass", "name", "status", "accuracy", "bureau", "district", "survey_date"]
    list_filter = ["status", "accuracy", "subclass", "district"]
    search_fields = ["code", "name", "owner", "maintainer"]
    autocomplete_fields = ["bureau"]
    readonly_fields = ["cell", "community", "street", "district", "created_at", "updated_at"]
    list_select_related = ["bureau", "district"]
    inlines = [ComponentLogInline]

    def save_model(self, request, obj, form, change) -> None:
        census.save_component(obj, request.user, note=str(_("changed in the admin site")))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a component leaves the census as abandoned (废弃), its history kept


@admin.register(CensusChange)
class CensusChangeAdmin(LeafletGeoAdmin):
    list_display = ["created_at", "kind", "subclass", "component", "case_number", "reported_by", "state"]
    list_filter = ["state", "kind"]
    readonly_fields = ["kind", "subclass", "location", "component", "case_number", "note", "reported_by",
                       "state", "decided_by", "decided_at", "created_at"]
    actions = ["approve_changes", "reject_changes"]

    def has_add_permission(self, request) -> bool:
        return False  # reported from the field

    @admin.action(description=_("Approve the selected census changes"))
    def approve_changes(self, request, queryset) -> None:
        done = 0
        for change in queryset.filter(state=CensusChange.State.PENDING):
            try:
                census.approve(change, request.user)
            except (ValidationError, ValueError) as exc:  # outside the city, a bad code, decided meanwhile
                reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, _("Census change %(id)s not approved: %(reason)s")
                                  % {"id": change.pk, "reason": reason}, messages.ERROR)
                continue
            done += 1
        self.message_user(request, _("%(n)d census changes approved.") % {"n": done}, messages.SUCCESS)

    @admin.action(description=_("Reject the selected census changes"))
    def reject_changes(self, request, queryset) -> None:
        done = 0
        for change in queryset.filter(state=CensusChange.State.PENDING):
            try:
                census.reject(change, request.user)
            except ValueError:  # decided meanwhile by someone else
                continue
            done += 1
        self.message_user(request, _("%(n)d census changes rejected.") % {"n": done}, messages.SUCCESS)


@admin.register(PipeNetwork)
class PipeNetworkAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "owner", "bureau"]
    list_filter = ["kind"]
    search_fields = ["code", "name", "owner"]


@admin.register(PipePoint)
class PipePointAdmin(LeafletGeoAdmin):
    list_display = ["code", "kind", "network", "depth_m", "customers", "component", "status"]
    list_filter = ["kind", "network", "status"]
    search_fields = ["code"]
    raw_id_fields = ["component"]


@admin.register(PipeSegment)
class PipeSegmentAdmin(LeafletGeoAdmin):
    list_display = ["code", "network", "material", "diameter_mm", "year_laid", "owner", "status", "length_m"]
    list_filter = ["network", "status", "material"]
    search_fields = ["code", "owner"]
    raw_id_fields = ["source", "target"]
    readonly_fields = ["length_m"]
