"""Headquarters, plans (with their tasks, versioned) and emergency resources are data kept in the admin by the
system administrator. Incidents, their log and tasks are worked through the pages and the API, not here."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _
from leaflet.admin import LeafletGeoAdmin

from .models import EventType, Headquarters, Plan, PlanTask, Resource, StockItem


@admin.register(EventType)
class EventTypeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "category"]
    list_filter = ["category"]
    search_fields = ["code", "name"]


@admin.register(Headquarters)
class HeadquartersAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "district", "lead_bureau", "duty_phone"]
    search_fields = ["code", "name"]
    filter_horizontal = ["bureaus", "people"]


class PlanTaskFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        live = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if any(not f.cleaned_data.get("bureau") for f in live):
            raise ValidationError(_("Every task needs an owner."))


class PlanTaskInline(admin.TabularInline):
    model = PlanTask
    formset = PlanTaskFormSet
    extra = 1
    fields = ["order", "kind", "title", "bureau", "limit_minutes"]


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    """A change to a plan in force is a new version: "save as new" keeps the old one for the incidents that
    activated it."""

    list_display = ["code", "version", "name", "event_type", "most_severe", "least_severe", "headquarters", "active"]
    list_filter = ["active", "event_type", "headquarters"]
    search_fields = ["code", "name"]
    filter_horizontal = ["notify_bureaus"]
    inlines = [PlanTaskInline]
    save_as = True


class StockItemInline(admin.TabularInline):
    model = StockItem
    extra = 1


@admin.register(Resource)
class ResourceAdmin(LeafletGeoAdmin):
    list_display = ["code", "kind", "name", "bureau", "district", "capacity", "contact_name", "contact_phone", "active"]
    list_filter = ["kind", "active", "district"]
    search_fields = ["code", "name"]
    inlines = [StockItemInline]
