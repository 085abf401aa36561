from django.urls import path

from . import public_views

app_name = "public"
urlpatterns = [
    path("catalogue/", public_views.catalogue, name="catalogue"),
    path("locate/", public_views.locate, name="locate"),
    path("reports/", public_views.report, name="report"),
    path("cases/", public_views.cases, name="cases"),
]
