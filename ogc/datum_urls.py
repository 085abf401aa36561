from django.urls import path

from . import datum_views

app_name = "datums"
urlpatterns = [path("convert", datum_views.convert, name="convert")]
