from django.apps import AppConfig


class InferenceConfig(AppConfig):
    """Frames to outcomes: face finding, quality gates, the emotion CNN, the model registry."""

    name = "inference"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the recompute task; Celery's autodiscovery only imports inference.tasks (which
        # imports the second opinion's).
        # Every process knows the tasks that uploads are published to by name, so the embedded
        # fallback (tasks run eagerly, no broker) finds them too.
        from inference import (
            calibrations,  # noqa: F401
            tasks,  # noqa: F401
        )
