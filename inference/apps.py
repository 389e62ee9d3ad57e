from django.apps import AppConfig


class InferenceConfig(AppConfig):
    """Frames to outcomes: face finding, quality gates, the emotion CNN, the model registry."""

    name = "inference"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the recompute and second-opinion tasks; Celery's autodiscovery only imports
        # inference.tasks.
        from inference import calibrations, second_opinion_tasks  # noqa: F401
