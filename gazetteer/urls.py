from django.urls import path

from . import views

app_name = "gazetteer"
urlpatterns = [
    path("geocode", views.Geocode.as_view(), name="geocode"),
    path("reverse", views.Reverse.as_view(), name="reverse"),
]
