"""The product's routes plus bench.ping's bare 204 (bench.settings)."""

from django.urls import include, path

from bench.ping import PING_PATH, ping

handler404 = "config.errors.not_found"
urlpatterns = [path(PING_PATH.lstrip("/"), ping), path("", include("config.urls"))]
