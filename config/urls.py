from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static as static_url
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from config.health import healthz
from config.metrics import metrics

handler404 = "config.errors.not_found"


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico where a page names no icon (JSON, files); WhiteNoise serves it."""
    return redirect(static_url("img/favicon.ico"))


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="campaigns:list", permanent=False)),
    path("favicon.ico", favicon),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("campaigns.account_urls")),
    path("campaigns/", include("campaigns.urls")),
    path("campaigns/", include("dashboard.urls")),
    path("campaigns/", include("reports.urls")),
    path("r/", include("reports.share_urls")),
    path("t/", include("sessions.urls")),
    path("api/", include("sessions.api_urls")),
    path("api/", include("inference.api_urls")),
    path("api/", include("dashboard.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
