from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    """Lifeline monitoring: sensors over MQTT, readings, alarms that raise cases through incidents."""

    name = "monitoring"
    verbose_name = _("Lifeline monitoring")

    def ready(self) -> None:
        from .scoping import register_scopes

        register_scopes()
