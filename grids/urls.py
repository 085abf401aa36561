from django.urls import path

from . import views

app_name = "grids"
urlpatterns = [
    path("areas/", views.AreaList.as_view(), name="area-list"),
    path("areas/<str:code>/", views.AreaDetail.as_view(), name="area-detail"),
    path("cells/", views.CellList.as_view(), name="cell-list"),
    path("cells/<str:code>/", views.CellDetail.as_view(), name="cell-detail"),
    path("bureaus/", views.BureauList.as_view(), name="bureau-list"),
    path("locate", views.Locate.as_view(), name="locate"),
    path("places/", views.Places.as_view(), name="places"),
    path("generations/", views.GenerationList.as_view(), name="generation-list"),
]
