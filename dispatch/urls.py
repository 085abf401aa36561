from django.urls import path

from . import views

app_name = "dispatch"
urlpatterns = [
    path("cases/<str:number>/nearest-units/", views.NearestUnits.as_view(), name="nearest-units"),
    path("cases/<str:number>/units/", views.SendUnits.as_view(), name="send-units"),
    path("assignments/<int:pk>/<str:step>/", views.AssignmentStep.as_view(), name="assignment-step"),
    path("units/<str:code>/position/", views.UnitPosition.as_view(), name="unit-position"),
    path("units/", views.UnitList.as_view(), name="unit-list"),
    path("units/<str:code>/", views.UnitDetail.as_view(), name="unit-detail"),
    path("units/<str:code>/duty/", views.UnitDuty.as_view(), name="unit-duty"),
    path("bureau/queue/", views.BureauQueue.as_view(), name="bureau-queue"),
    path("events/", views.Events.as_view(), name="events"),
    path("stream/", views.EventStream.as_view(), name="stream"),
]
urlpatterns += [
    path("evaluation/", views.Evaluation.as_view(), name="evaluation"),
    path("dashboard/heat/", views.DashboardHeat.as_view(), name="dashboard-heat"),
    path("dashboard/choropleth/", views.DashboardChoropleth.as_view(), name="dashboard-choropleth"),
    path("dashboard/areas/<str:code>/", views.DashboardArea.as_view(), name="dashboard-area"),
    path("dashboard/kpis/", views.DashboardKpis.as_view(), name="dashboard-kpis"),
    path("evaluation/series/", views.EvaluationSeries.as_view(), name="evaluation-series"),
]
urlpatterns += [
    path("bulletin/", views.BulletinLive.as_view(), name="bulletin"),
    path("bulletins/", views.BulletinList.as_view(), name="bulletins"),
    path("bulletins/<int:pk>/<str:fmt>/", views.BulletinFile.as_view(), name="bulletin-file"),
]
