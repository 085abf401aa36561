from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FrontendConfig(AppConfig):
    """The pages people use: the grid map now; inspector, dispatcher and leader pages as their APIs land."""

    name = "frontend"
    verbose_name = _("Pages")
