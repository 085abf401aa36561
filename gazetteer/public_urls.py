from django.urls import path

from . import views

app_name = "public-gazetteer"
urlpatterns = [
    path("geocode/", views.public_geocode, name="geocode"),
]
