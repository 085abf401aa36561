from django.urls import path

from . import public_views

app_name = "warnings-public"
urlpatterns = [
    path("in-force.json", public_views.warnings_in_force, name="in-force"),
    path("feed.atom", public_views.feed, name="feed"),
    path("cap/<str:identifier>.xml", public_views.cap_document, name="cap"),
]
