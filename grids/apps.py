from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GridsConfig(AppConfig):
    """The city's territorial grid: areas, unit grid cells, the bureaus responsible for them."""

    name = "grids"
    verbose_name = _("City grid")

    def ready(self) -> None:
        from . import openapi  # noqa: F401  (registers the schema extension)
