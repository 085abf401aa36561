from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import roles
from .models import ApiToken, AuditEvent, StaffProfile
from .roles import account_fields

admin.site.unregister(User)

USER_FIELDS = ("username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser", "groups",
               "user_permissions", "last_login", "date_joined")
PROFILE_FIELDS = ("district", "bureau", "phone", "must_change_password")


def _read_only(request, target, fields) -> list[str]:
    allowed = account_fields(request.user, target)
    return [] if "*" in allowed else [f for f in fields if f not in allowed]


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    can_delete = False
    autocomplete_fields = ["district", "bureau"]
    fields = list(PROFILE_FIELDS)

    def get_readonly_fields(self, request, obj=None):
        return _read_only(request, obj, PROFILE_FIELDS)


class AccountCreationForm(forms.ModelForm):
    """A new account as the system administrator makes it: who the person is, no usable password (the
    security administrator sets the initial one, and gives the roles)."""

    class Meta:
        model = User
        fields = ["username", "first_name", "last_name", "email"]

    def save(self, commit: bool = True):
        user = super().save(commit=False)
        user.set_unusable_password()
        if commit:
            user.save()
        return user


@admin.register(User)
class CityGridUserAdmin(UserAdmin):
    """Separation of duties, field by field as roles.ACCOUNT_FIELDS declares it: the system administrator
    keeps people's details, the security administrator their roles, scope, state and initial password,
    nobody their own, and only a superuser the accounts of the three administrators."""

    inlines = [StaffProfileInline]
    list_display = ["username", "first_name", "is_active", "is_staff", "last_login"]
    list_filter = ["groups", "is_active", "is_staff"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None and not request.user.is_superuser:
            kwargs["form"] = AccountCreationForm
            kwargs["fields"] = AccountCreationForm.Meta.fields
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None and not request.user.is_superuser:
            return [(None, {"fields": AccountCreationForm.Meta.fields})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return _read_only(request, obj, USER_FIELDS) + (["is_superuser", "user_permissions"]
                                                       if not request.user.is_superuser else [])

    def has_change_permission(self, request, obj=None) -> bool:
        # Without a field to change, the page opens read-only (when the role may view accounts at all).
        return super().has_change_permission(request, obj) and (
            obj is None or bool(account_fields(request.user, obj)))

    def user_change_password(self, request, id, form_url=""):
        target = self.get_object(request, unquote(id))
        if target is not None and "password" not in account_fields(request.user, target) \
                and "*" not in account_fields(request.user, target):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

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
    """Tokens are credentials: made here only for oneself (a token for someone else would let its maker act
    as them); integrations get theirs from `manage.py issue_token` on the server. The security administrator
    revokes any."""

    list_display = ["prefix", "name", "user", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return ["name", "expires_at"] if obj is None else ["user", "name", "expires_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["user", "name", "expires_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.user = request.user
            key = obj.set_new_key()
            messages.warning(request, _("New token for %(user)s: %(key)s — copy it now, it will not be shown again.")
                             % {"user": obj.user, "key": key})
        super().save_model(request, obj, form, change)

    @admin.action(description=gettext_lazy("Revoke selected tokens"))
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
