from django.contrib import admin, messages
from django.utils.translation import gettext as _
from leaflet.admin import LeafletGeoAdmin

from .models import Case, CaseLog, Category, Open311Client, PublicationRule, TimeLimit
from .open311 import hash_key, new_key
from .scoping import sees_contact_details


class TimeLimitInline(admin.TabularInline):
    model = TimeLimit
    extra = 0


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name_zh", "name_en", "kind", "parent", "default_bureau_kind", "photo_required", "active"]
    list_filter = ["kind", "parent", "default_bureau_kind", "active"]
    search_fields = ["code", "name_zh", "name_en"]
    inlines = [TimeLimitInline]


class CaseLogInline(admin.TabularInline):
    model = CaseLog
    extra = 0
    can_delete = False
    fields = ["created_at", "action", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Case)
class CaseAdmin(LeafletGeoAdmin):
    """Cases change through their lifecycle (the API and pages), not by editing rows: read-only here."""

    list_display = ["number", "category", "status", "urgency", "source", "district", "bureau", "created_at"]
    list_filter = ["status", "urgency", "source", "district", "category__parent"]
    search_fields = ["number", "address", "description"]
    date_hierarchy = "created_at"
    inlines = [CaseLogInline]
    list_select_related = ["category", "district", "bureau"]

    def get_exclude(self, request, obj=None):
        # Reporters' contact details are for the roles that call back (their pages and the API), not the admin.
        return [] if sees_contact_details(request.user) else ["contact_name", "contact_phone", "contact_email"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Open311Client)
class Open311ClientAdmin(admin.ModelAdmin):
    list_display = ["name", "active", "created_at"]
    fields = ["name", "active"]

    def save_model(self, request, obj, form, change):
        if not change:
            key = new_key()
            obj.key_hash = hash_key(key)
            messages.warning(request, _("api_key for %(name)s: %(key)s — copy it now, it will not be shown again.")
                             % {"name": obj.name, "key": key})
        super().save_model(request, obj, form, change)


@admin.register(PublicationRule)
class PublicationRuleAdmin(admin.ModelAdmin):
    """What the public sees (Open311, the public map, the tracking page): the system administrator decides, per
    category and source; the most specific rule wins, and a case no rule covers is not published."""

    list_display = ["__str__", "published", "precision", "show_description", "show_photos", "note"]
    list_filter = ["published", "precision", "source"]
    search_fields = ["category__code", "category__name_zh", "note"]
    autocomplete_fields = ["category"]
    list_select_related = ["category"]
