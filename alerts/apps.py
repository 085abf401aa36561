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

    def load_demo(self) -> str:
        """load_demo's part: a yellow rainstorm warning over 雨湖区 (when none is in force)."""
        from .demo import load_demo_warning

        return load_demo_warning()
