"""Celery tasks of the inference workers.

Each message carries one frame (id + JPEG in base64). `acks_late` plus `reject_on_worker_lost`
mean a worker killed mid-task leaves its message in Redis, which redelivers it after the
visibility timeout; the conditional-UPDATE claim in `frame_record_analysis` makes the repeat a
no-op. Models load once per worker process, after the fork (`worker_process_init`).
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import timedelta

import kombu.exceptions
from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections
from django.utils import timezone

from config.celery import DEFAULT_QUEUE, INFERENCE_QUEUE

logger = logging.getLogger(__name__)

# Database or broker briefly away: worth retrying. Everything else is a bug or a bad frame.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, kombu.exceptions.OperationalError)
# Every per-frame task (primary model, second opinion): survive a killed worker, retry only
# transient errors with capped back-off, and never hang a pool process.
FRAME_TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 6,
    "soft_time_limit": 20,
    "time_limit": 30,
}


def analyse_frame_now(*, frame_id: int, image_bytes: bytes) -> str | None:
    """The whole per-frame job; returns the outcome recorded, or None if there was nothing to do.

    Database round trips per frame: one SELECT (frame, campaign and model id together), then the
    claim UPDATE and the prediction INSERT in one transaction. The model's registry entry comes
    from a per-process cache of a few seconds (inference.selectors)."""
    from inference.pipeline import FrameAnalysis, analyse_images, get_classifier
    from inference.selectors import forget_cached_models, frame_for_analysis, get_model_version_cached
    from inference.services import frame_record_analysis, model_version_ensure_default
    from sessions.models import Frame

    frame = frame_for_analysis(frame_id=frame_id)
    if frame is None:
        return None  # withdrawn meanwhile, or a redelivery of a frame already done
    max_age = timedelta(seconds=settings.MIMIK["FRAME_MAX_AGE_SECONDS"])
    if timezone.now() - frame["received_at"] > max_age:
        analysis, model_version, image_bytes = FrameAnalysis(Frame.Outcome.EXPIRED), None, None
    else:
        model_version = get_model_version_cached(model_version_id=frame["campaign__model_version_id"])
        if model_version is None:
            model_version = model_version_ensure_default()
            forget_cached_models()
        analysis = analyse_images([image_bytes], classifier=get_classifier(model_version))[0]
    recorded = frame_record_analysis(
        frame_id=frame_id, analysis=analysis, model_version=model_version, image_bytes=image_bytes, frame=frame
    )
    second_model_id = frame["campaign__second_model_version_id"]
    if recorded and second_model_id and analysis.face_crop is not None:
        # The second model gets the crop the primary already cut, on its own queue (after commit).
        from inference.second_opinion import queue_second_opinion

        queue_second_opinion(frame_id=frame_id, model_version_id=second_model_id, face_crop=analysis.face_crop)
    return analysis.outcome if recorded else None


@shared_task(name="inference.analyse_frame", queue=INFERENCE_QUEUE, **FRAME_TASK_OPTIONS)
def analyse_frame(frame_id: int, image_b64: str) -> str | None:
    try:
        image_bytes = base64.b64decode(image_b64, validate=True)
    except (binascii.Error, ValueError):
        image_bytes = b""  # recorded as `undecodable` by the pipeline, not retried
    return analyse_frame_now(frame_id=frame_id, image_bytes=image_bytes)


@shared_task(
    name="inference.expire_stale_frames",
    queue=DEFAULT_QUEUE,
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=120,
    time_limit=180,
)
def expire_stale_frames() -> int:
    """Backstop for frames whose message was lost: pending for twice the maximum age -> expired."""
    from inference.services import frames_expire_stale

    return frames_expire_stale(older_than=timedelta(seconds=2 * settings.MIMIK["FRAME_MAX_AGE_SECONDS"]))


@shared_task(
    name="inference.purge_expired_frames",
    queue=DEFAULT_QUEUE,
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=300,
    time_limit=360,
)
def purge_expired_frames() -> int:
    """Delete kept snapshots (campaigns that opted in) once their retention date has passed."""
    from inference.services import frames_purge_kept_images

    return frames_purge_kept_images()


@worker_process_init.connect
def load_models_after_fork(**_kwargs) -> None:
    """Load the detector and the active model in each worker child, so the first frame does not
    pay for it; interpreters are never shared across a fork."""
    try:
        import cv2

        # One pool process per core: OpenCV's own threads would only fight the other processes.
        cv2.setNumThreads(1)
        from inference.detection import get_detector, get_full_range_detector
        from inference.pipeline import get_classifier
        from inference.services import model_version_ensure_default

        get_detector()
        get_full_range_detector()
        get_classifier(model_version_ensure_default())
    except Exception:  # a worker that cannot warm up still loads lazily and reports per frame
        logger.exception("Could not load the models at worker start")
    finally:
        close_old_connections()
