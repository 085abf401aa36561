from django.urls import path

from . import views

app_name = "assets"
urlpatterns = [
    path("components/", views.ComponentList.as_view(), name="component-list"),
    path("components/nearest", views.NearestComponents.as_view(), name="component-nearest"),
    path("components/<str:code>/", views.ComponentDetail.as_view(), name="component-detail"),
]
