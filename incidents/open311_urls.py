from django.urls import path

from . import open311

app_name = "open311"
urlpatterns = [
    path("discovery.<str:fmt>", open311.discovery, name="discovery"),
    path("v2/services.<str:fmt>", open311.services, name="services"),
    path("v2/services/<str:code>.<str:fmt>", open311.service_definition, name="service"),
    path("v2/requests.<str:fmt>", open311.requests, name="requests"),
    path("v2/requests/<str:number>.<str:fmt>", open311.request_detail, name="request"),
    path("v2/tokens/<str:token>.<str:fmt>", open311.token, name="token"),
]
