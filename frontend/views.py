from django.conf import settings
from django.views.generic import TemplateView

from citygrid.policy import PolicyPageMixin
from citygrid.roles import ROLE_LABELS, user_roles


class GridMap(PolicyPageMixin, TemplateView):
    """The city grid on a map: areas by level, cells when zoomed in, click to locate a point."""

    template_name = "frontend/grid_map.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["roles"] = [ROLE_LABELS[r] for r in sorted(user_roles(self.request.user))]
        context["map_config"] = {"tileUrl": settings.TILE_URL, "tileAttribution": settings.TILE_ATTRIBUTION,
                                 "tileDatum": settings.TILE_DATUM}
        return context
