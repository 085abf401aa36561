from django.urls import path

from . import views

app_name = "emergency"
urlpatterns = [
    path("incidents/", views.IncidentList.as_view(), name="incident-list"),
    path("incidents/<str:number>/", views.IncidentDetail.as_view(), name="incident-detail"),
    path("incidents/<str:number>/board/", views.IncidentBoard.as_view(), name="incident-board"),
    path("incidents/<str:number>/offered-cases/", views.OfferedCases.as_view(), name="offered-cases"),
    path("incidents/<str:number>/report/", views.IncidentReport.as_view(), name="incident-report"),
    path("incidents/<str:number>/<str:action>/", views.IncidentAction.as_view(), name="incident-action"),
    path("tasks/", views.TaskList.as_view(), name="task-list"),
    path("tasks/<int:pk>/<str:step>/", views.TaskStep.as_view(), name="task-step"),
    path("resources/", views.Resources.as_view(), name="resources"),
    path("plans/", views.PlanList.as_view(), name="plans"),
]
