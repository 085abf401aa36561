from django.urls import path

from . import views

app_name = "frontend"
urlpatterns = [
    path("", views.home, name="home"),
    path("map/", views.GridMap.as_view(), name="map"),
    path("inspector/", views.Inspector.as_view(), name="inspector"),
    path("inspector/sw.js", views.inspector_service_worker, name="inspector-sw"),
    path("console/", views.Console.as_view(), name="console"),
    path("dashboard/", views.Dashboard.as_view(), name="dashboard"),
    path("bureau/", views.BureauWorkbench.as_view(), name="bureau"),
    path("unit/", views.CrewPage.as_view(), name="unit"),
]
