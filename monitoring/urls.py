from django.urls import path

from . import views

app_name = "monitoring"
urlpatterns = [
    path("sensors/", views.SensorList.as_view(), name="sensor-list"),
    path("sensors/<str:code>/", views.SensorDetail.as_view(), name="sensor-detail"),
    path("sensors/<str:code>/chart/", views.SensorChart.as_view(), name="sensor-chart"),
    path("readings/", views.ReadingBatch.as_view(), name="reading-batch"),
    path("alarms/summary/", views.AlarmSummary.as_view(), name="alarm-summary"),
]
