from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OgcConfig(AppConfig):
    """Open map services: the city's data through OGC API – Features (pygeoapi), datum conversion as a service.
    Reads the other apps (grids, assets, incidents); nothing imports it."""

    name = "ogc"
    verbose_name = _("Open map services")
