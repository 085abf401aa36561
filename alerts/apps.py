from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    """Early warning (预警): warnings issued, updated and cancelled by the command centres, published as CAP 1.2
    with an Atom index and a public map. Imports grids and citygrid only (emergency sits above it)."""

    name = "alerts"
    verbose_name = _("Early warning")

    def ready(self) -> None:
        from .scoping import register_scopes

        register_scopes()
