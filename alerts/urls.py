from django.urls import path

from . import views

app_name = "alerts"
urlpatterns = [
    path("warnings/", views.WarningList.as_view(), name="warning-list"),
    path("warnings/<int:pk>/", views.WarningDetail.as_view(), name="warning-detail"),
    path("warnings/<int:pk>/update/", views.WarningUpdate.as_view(), name="warning-update"),
    path("warnings/<int:pk>/cancel/", views.WarningCancel.as_view(), name="warning-cancel"),
    path("warnings/<int:pk>/cap/<int:seq>.xml", views.WarningCap.as_view(), name="warning-cap"),
    path("types/", views.WarningTypes.as_view(), name="types"),
]
