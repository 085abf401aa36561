from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CityGridConfig(AppConfig):
    """People: roles (groups), their scope in the two-level city, and API tokens."""

    name = "citygrid"
    verbose_name = _("People and access")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from grids.generations import register_live_reference

        from . import audit, receivers  # noqa: F401  (connect the audit and role receivers)

        register_live_reference("citygrid.StaffProfile", "district")  # scopes follow a new generation
        post_migrate.connect(_sync_roles, sender=self)
        # The database roles' grants on whatever the migrations made (citygrid/dbroles.py).
        post_migrate.connect(_apply_grants, sender=self)


def _sync_roles(sender, **kwargs) -> None:
    """After migrate: every app's permissions exist (created here if their own signal has not run yet), then
    each role's permissions are set as declared."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    from .roles import sync_role_permissions

    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    sync_role_permissions()


def _apply_grants(sender, using: str = "default", **kwargs) -> None:
    from .dbroles import apply_grants_after_migrate

    apply_grants_after_migrate(using)
