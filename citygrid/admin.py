from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from . import roles
from .models import ApiToken, AuditEvent, StaffProfile
from .roles import has_role


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    can_delete = False
    autocomplete_fields = ["district", "bureau"]


admin.site.unregister(User)


@admin.register(User)
class CityGridUserAdmin(UserAdmin):
    """Separation of duties: the system administrator keeps people's details, only the security administrator
    gives roles, nobody changes their own roles, and nobody makes superusers here."""

    inlines = [StaffProfileInline]
    list_display = ["username", "first_name", "is_active", "is_staff", "last_login"]
    list_filter = ["groups", "is_active", "is_staff"]

    def get_readonly_fields(self, request, obj=None):
        fixed = ["is_superuser", "user_permissions", "last_login", "date_joined"]
        if not has_role(request.user, roles.SECADMIN) or (obj is not None and obj.pk == request.user.pk):
            fixed += ["groups", "is_staff"]
        return fixed

    def save_related(self, request, form, formsets, change):
        if "groups" in form.cleaned_data:
            try:
                roles.check_separation({g.name for g in form.cleaned_data["groups"]})
            except ValidationError as exc:
                messages.error(request, exc.messages[0])
                form.cleaned_data["groups"] = form.instance.groups.all()
        super().save_related(request, form, formsets, change)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "user", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    fields = ["user", "name", "expires_at", "revoked_at"]
    autocomplete_fields = ["user"]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if not change:
            key = obj.set_new_key()
            messages.warning(request, _("New token for %(user)s: %(key)s — copy it now, it will not be shown again.")
                             % {"user": obj.user, "key": key})
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            token.revoke()


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail can be searched, never edited (the database refuses it anyway)."""

    list_display = ["at", "username", "ip", "action", "target", "result"]
    list_filter = ["action", "result"]
    search_fields = ["username", "target", "detail", "ip"]
    date_hierarchy = "at"
    readonly_fields = ["at", "user", "username", "ip", "action", "target", "result", "detail"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
