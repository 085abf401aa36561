from django.urls import path

from . import views

app_name = "assets"
urlpatterns = [
    path("components/", views.ComponentList.as_view(), name="component-list"),
    path("components/nearest", views.NearestComponents.as_view(), name="component-nearest"),
    path("components/<str:code>/", views.ComponentDetail.as_view(), name="component-detail"),
    path("pipes/", views.PipesInView.as_view(), name="pipe-list"),
    path("pipes/under", views.UnderHere.as_view(), name="pipe-under"),
    path("pipes/segments/<str:code>/isolation", views.SegmentIsolation.as_view(), name="pipe-isolation"),
    path("pipes/segments/<str:code>/flow", views.SegmentFlow.as_view(), name="pipe-flow"),
]
