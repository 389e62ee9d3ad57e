"""Login, logout and password reset (Django auth views, our templates)."""

from django.urls import include, path

urlpatterns = [path("", include("django.contrib.auth.urls"))]
