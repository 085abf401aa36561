from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import audit_views, health, views

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/login/", views.Login.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", views.PasswordChange.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(
        template_name="frontend/password_change_done.html"), name="password_change_done"),
    path("accounts/two-step/setup/", views.SecondFactorSetup.as_view(), name="otp_setup"),
    path("accounts/two-step/", views.SecondFactorVerify.as_view(), name="otp_verify"),
    path("accounts/two-step/recovery-codes/", views.RecoveryCodes.as_view(), name="otp_recovery"),
    path("audit/", audit_views.AuditTrail.as_view(), name="audit-trail"),
    path("audit/export.csv", audit_views.AuditExport.as_view(), name="audit-export"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/grids/", include("grids.urls")),
    path("api/assets/", include("assets.urls")),
    path("api/", include("incidents.urls")),
    path("api/dispatch/", include("dispatch.urls")),
    path("api/monitoring/", include("monitoring.urls")),
    path("api/emergency/", include("emergency.urls")),
    path("open311/", include("incidents.open311_urls")),
    path("public/api/", include("incidents.public_urls")),
    path("api/alerts/", include("alerts.urls")),
    path("public/warnings/", include("alerts.public_urls")),
    path("api/gazetteer/", include("gazetteer.urls")),
    path("public/api/gazetteer/", include("gazetteer.public_urls")),
    path("api/datums/", include("ogc.datum_urls")),
    path("ogc/", include("ogc.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("tiles/", include("tiles.urls")),
    path("", include("frontend.urls")),
]
