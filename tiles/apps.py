from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TilesConfig(AppConfig):
    """Map services: Mapbox Vector Tiles of the grid, the census, the pipes and the cases, made by PostGIS
    (reads the other apps, owns no table)."""

    name = "tiles"
    verbose_name = _("Vector tiles")
