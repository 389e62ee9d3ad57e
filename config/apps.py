from django.apps import AppConfig


class MimikConfig(AppConfig):
    """Project-wide pieces that belong to no single app: health checks, errors, headers."""

    name = "config"
    label = "mimik"
    verbose_name = "Mimik"
