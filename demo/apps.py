from django.apps import AppConfig


class DemoConfig(AppConfig):
    """`manage.py demo`: a live and a finished campaign built through the real services and worker."""

    name = "demo"
