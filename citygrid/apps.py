from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CityGridConfig(AppConfig):
    """People: roles (groups), their scope in the two-level city, and API tokens."""

    name = "citygrid"
    verbose_name = _("People and access")

    def ready(self) -> None:
        from . import audit  # noqa: F401  (connects the audit receivers)
