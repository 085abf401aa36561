from django.urls import path

from . import views
from .layers import LAYERS

app_name = "tiles"

# One URL name per layer, so that each declares its own policy (citygrid/policy.py).
urlpatterns = [path(f"{name}/<int:z>/<int:x>/<int:y>.pbf", views.TileView.as_view(layer=name), name=name)
               for name in LAYERS]
