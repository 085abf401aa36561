from django.urls import path

from . import hotline_views, views

app_name = "incidents"
urlpatterns = [
    path("cases/", views.CaseList.as_view(), name="case-list"),
    path("cases/mine/", views.MyCases.as_view(), name="my-cases"),
    path("cases/verification-tasks/", views.VerificationTasks.as_view(), name="verification-tasks"),
    path("cases/export/", views.CaseExport.as_view(), name="case-export"),
    path("cases/photos/<int:pk>/<str:variant>/", views.PhotoFile.as_view(), name="photo"),
    path("cases/duplicates/", hotline_views.Duplicates.as_view(), name="duplicates"),
    path("cases/callers/", hotline_views.CallerCases.as_view(), name="caller-cases"),
    path("cases/callbacks/", hotline_views.DueCallbacks.as_view(), name="callbacks"),
    path("cases/<str:number>/callback/", hotline_views.RecordCallback.as_view(), name="callback"),
    path("cases/<str:number>/", views.CaseDetail.as_view(), name="case-detail"),
    path("cases/<str:number>/<str:action>/", views.CaseAction.as_view(), name="case-action"),
    path("catalogue/", views.CategoryList.as_view(), name="catalogue"),
]
