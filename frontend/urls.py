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
    path("bulletin/", views.BulletinPage.as_view(), name="bulletin"),
    path("bureau/", views.BureauWorkbench.as_view(), name="bureau"),
    path("unit/", views.CrewPage.as_view(), name="unit"),
    path("hotline/", views.Hotline.as_view(), name="hotline"),
    path("report/", views.Report.as_view(), name="report"),
    path("public/", views.PublicMap.as_view(), name="public-map"),
    path("track/", views.TrackLookup.as_view(), name="track-lookup"),
    path("track/<str:number>/", views.Track.as_view(), name="track"),
    path("track/<str:number>/photos/<int:pk>/", views.track_photo, name="track-photo"),
    path("warnings/", views.Warnings.as_view(), name="warnings"),
    path("public/warnings/", views.PublicWarnings.as_view(), name="public-warnings"),
    path("emergency/", views.EmergencyPage.as_view(), name="emergency"),
    path("emergency/<str:number>/", views.IncidentBoardPage.as_view(), name="incident-board"),
    path("emergency/<str:number>/report/", views.IncidentReportPage.as_view(), name="incident-report"),
]
