from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from . import csp, health, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path(csp.REPORT_PATH.lstrip("/"), csp.report, name="csp_report"),
    path("accessibilite/", views.accessibility, name="accessibility"),
    path("mentions-legales/", views.legal_notice, name="legal_notice"),
    path("donnees-personnelles/", views.personal_data, name="personal_data"),
    path("plan-du-site/", views.sitemap, name="sitemap"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("comptes/", include("comptes.urls")),
    path("consultations/", include("marches.urls")),
    path("plis/", include("offres.urls")),
    path("preuves/", include("preuves.urls")),
    path("api/", include("api.urls")),
    path(settings.ADMIN_URL, admin.site.urls),
]
