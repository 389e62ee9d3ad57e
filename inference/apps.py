from django.apps import AppConfig


class InferenceConfig(AppConfig):
    """Frames to outcomes: face finding, quality gates, the emotion CNN, the model registry."""

    name = "inference"
    default_auto_field = "django.db.models.BigAutoField"
