from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GazetteerConfig(AppConfig):
    """The gazetteer (地名地址): roads, door numbers, buildings and landmarks; geocoding and reverse geocoding."""

    name = "gazetteer"
    verbose_name = _("Gazetteer")

    def load_demo(self) -> str:
        """Called by load_demo: door numbers along generated roads of the demo city."""
        from .demo import load_addresses

        counts = load_addresses()
        if not counts:
            return "demo gazetteer: already present"
        return "demo gazetteer: " + ", ".join(f"{n} {k}" for k, n in counts.items())
