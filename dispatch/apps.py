from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DispatchConfig(AppConfig):
    """Routing cases to bureaus, deadlines, escalation and emergency command."""

    name = "dispatch"
    verbose_name = _("Dispatch and command")

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the transition receivers)
        from .scoping import register_scopes

        register_scopes()
