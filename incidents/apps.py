from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IncidentsConfig(AppConfig):
    """Cases: intake, the standard catalogue, the closed-loop lifecycle."""

    name = "incidents"
    verbose_name = _("Cases")
