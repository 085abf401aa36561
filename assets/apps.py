from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssetsConfig(AppConfig):
    """The city's objects: the component census (部件) and the underground pipe networks (地下管网)."""

    name = "assets"
    verbose_name = _("City assets")

    def ready(self) -> None:
        from .scoping import register_scopes

        register_scopes()
        from grids.generations import register_live_reference

        for field in ("cell", "community", "street", "district"):  # a component is where it stands now
            register_live_reference("assets.Component", field)
