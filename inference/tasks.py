"""Celery tasks of the inference workers.

Frames arrive one message each (frame id + raw JPEG, msgpack; published by
sessions.analysis_queue.frame_submit_for_analysis) and are analysed in batches: the worker's main
process buffers up to FRAME_BATCH_SIZE messages, or whatever came within FRAME_BATCH_WAIT_SECONDS,
and hands them to one pool process as one call (celery-batches). A batch costs one SELECT, the
classifier on all its faces, one statement that claims every frame and inserts the claimed
frames' predictions, and one live event per campaign.

Delivery stays at-least-once: every message is acknowledged only when its batch has returned
(`acks_late`); a pool process that dies rejects its batch back to the queue, and a whole worker
killed leaves the messages in Redis's unacked hash, which redelivers them after the visibility
timeout. The conditional claim (`frames_record_analyses`) makes a repeat a no-op. Models load once
per worker process, after the fork (`worker_process_init`).
"""

from __future__ import annotations

import base64
import binascii
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import kombu.exceptions
from billiard.einfo import ExceptionInfo
from billiard.exceptions import WorkerLostError
from celery import shared_task
from celery.signals import worker_process_init
from celery_batches import Batches
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, close_old_connections, connection
from django.utils import timezone

from config.celery import BASELINE_ANALYSIS_TASK, DEFAULT_QUEUE, FRAME_ANALYSIS_TASK, INFERENCE_QUEUE

logger = logging.getLogger(__name__)

# Database or broker briefly away: worth retrying. Everything else is a bug or a bad frame.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, kombu.exceptions.OperationalError)
# Every per-frame task (the second opinion): survive a killed worker, retry only transient
# errors with capped back-off, and never hang a pool process.
# The beat's clean-ups on the default queue: a lost run is repeated by the next one anyway.
MAINTENANCE_TASK_OPTIONS = {
    "queue": DEFAULT_QUEUE,
    "acks_late": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": True,
    "max_retries": 3,
}
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

# A batch: at most this many frames (the worker prefetches twice this per pool process, see
# CELERY_WORKER_PREFETCH_MULTIPLIER), and a frame waits at most this long for others to join it.
FRAME_BATCH_SIZE = 16
FRAME_BATCH_WAIT_SECONDS = 0.05
# The database away: retry the batch's writes after 1, 2, 4, 8, 16, 30 s (with jitter), then give
# the messages back to the queue, so the batch's pool process is free again within its limits.
BATCH_RETRY_DELAYS = (1, 2, 4, 8, 16, 30)
BATCH_SOFT_TIME_LIMIT = 90
BATCH_TIME_LIMIT = 120

T = TypeVar("T")


class BatchGaveUp(Exception):
    """The database stayed away through every retry: give the batch's messages back."""


def with_back_off(work: Callable[[], T], *, what: str) -> T:
    """`work()`, retried with capped, jittered back-off while the database is away."""
    for delay in (*BATCH_RETRY_DELAYS, None):
        try:
            return work()
        except TRANSIENT_ERRORS as error:
            # A broken connection is not reused: the next attempt connects again.
            connection.close()
            if delay is None:
                raise BatchGaveUp(str(error)) from error
            wait = delay * random.uniform(0.5, 1.0)
            logger.warning("%s: %s: %s. Retry in %.1fs", what, error.__class__.__name__, error, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def analyse_frames_now(frames: list[tuple[int, bytes]]) -> dict[int, str | None]:
    """The whole job for a batch of (frame id, JPEG): {frame id: outcome recorded, or None if
    there was nothing to do (withdrawn meanwhile, a redelivery, or a repeated id in the batch)}.

    Database round trips per batch, whatever its size: one SELECT (frames, campaigns and model
    ids together), then one transaction with the claim UPDATE and the predictions' INSERT. The
    models' registry entries come from a per-process cache of a few seconds."""
    from inference.selectors import frames_for_analysis

    images = dict(frames)  # a message delivered twice in one batch is analysed once
    rows = with_back_off(lambda: frames_for_analysis(frame_ids=list(images)), what=f"{len(images)} frames")
    results: dict[int, str | None] = dict.fromkeys(images)
    if not rows:
        return results
    analysed = _analyse_rows(rows, images)
    recorded = with_back_off(lambda: _record(analysed), what=f"{len(analysed)} frames")
    for item in analysed:
        if item.frame["pk"] in recorded:
            results[item.frame["pk"]] = item.analysis.outcome
    _queue_second_opinions(analysed, recorded)
    return results


def _record(items: list) -> set[int]:
    """All in one transaction; if the database refuses it (a constraint: a bug, or a row deleted
    meanwhile), frame by frame, so the others still get their outcome."""
    from inference.services import frames_record_analyses

    try:
        return frames_record_analyses(items=items)
    except IntegrityError:
        logger.exception("Recording %s frames together failed; recording them one by one", len(items))
    recorded: set[int] = set()
    for item in items:
        try:
            recorded |= frames_record_analyses(items=[item])
        except IntegrityError:
            logger.exception("Frame %s could not be recorded; it stays pending", item.frame["pk"])
    return recorded


def _analyse_rows(rows: list[dict[str, Any]], images: dict[int, bytes]) -> list:
    """Run the pipeline on the pending frames, the usable faces of each model in one batch."""
    from inference.pipeline import FrameAnalysis
    from inference.services import FrameToRecord
    from sessions.models import Frame

    max_age = timedelta(seconds=settings.MIMIK["FRAME_MAX_AGE_SECONDS"])
    now = timezone.now()
    items: list[FrameToRecord] = []
    by_model: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if now - row["received_at"] > max_age:
            items.append(FrameToRecord(row, FrameAnalysis(Frame.Outcome.EXPIRED), None, None))
        else:
            by_model[row["campaign__model_version_id"]].append(row)
    for model_version_id, group in by_model.items():
        model_version = _model_version(model_version_id)
        analyses = _analyse_images([images[row["pk"]] for row in group], model_version)
        for row, analysis in zip(group, analyses, strict=True):
            if analysis is not None:  # None: the pipeline failed on it (logged); the backstop expires it
                items.append(FrameToRecord(row, analysis, model_version, images[row["pk"]]))
    return items


def _model_version(model_version_id: int | None):
    from inference.selectors import forget_cached_models, get_model_version_cached
    from inference.services import model_version_ensure_default

    model_version = with_back_off(
        lambda: get_model_version_cached(model_version_id=model_version_id), what="model lookup"
    )
    if model_version is None:
        model_version = with_back_off(model_version_ensure_default, what="default model")
        forget_cached_models()
    return model_version


def _analyse_images(images: list[bytes], model_version) -> list:
    """The pipeline on a batch; if it raises, frame by frame, so one bad frame (a bug: bad input
    is an outcome, not an exception) does not cost the others theirs."""
    from inference.pipeline import analyse_images, get_classifier

    classifier = get_classifier(model_version)
    try:
        return analyse_images(images, classifier=classifier)
    except Exception:
        logger.exception("The pipeline failed on a batch of %s frames; analysing them one by one", len(images))
    analyses = []
    for image_bytes in images:
        try:
            analyses.append(analyse_images([image_bytes], classifier=classifier)[0])
        except Exception:
            logger.exception("The pipeline failed on a frame; it stays pending")
            analyses.append(None)
    return analyses


def _queue_second_opinions(items: list, recorded: set[int]) -> None:
    """The second model gets the crops the primary already cut, on its own queue."""
    from inference.second_opinion.services import queue_second_opinion

    for item in items:
        second_model_id = item.frame["campaign__second_model_version_id"]
        if item.frame["pk"] in recorded and second_model_id and item.analysis.face_crop is not None:
            queue_second_opinion(
                frame_id=item.frame["pk"], model_version_id=second_model_id, face_crop=item.analysis.face_crop
            )


def analyse_frame_now(*, frame_id: int, image_bytes: bytes) -> str | None:
    """One frame: the outcome recorded, or None if there was nothing to do."""
    return analyse_frames_now([(frame_id, image_bytes)])[frame_id]


def _image_bytes(image: bytes | str) -> bytes:
    """The JPEG of a message: raw bytes (msgpack), or base64 text from a message queued by an
    earlier version (JSON) during a deployment."""
    if isinstance(image, bytes):
        return image
    try:
        return base64.b64decode(image, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return b""  # recorded as `undecodable` by the pipeline, not retried


# FrameBatches.flush passes the batch to the pool through celery-batches' private `_pool` and
# `celery_batches.trace.apply_batches_task`: its stock flush cannot keep the guarantees in the
# class's docstring. It has no error callback (a dead pool process leaves the batch
# unacknowledged, holding prefetch slots, until the visibility timeout), it acknowledges a batch
# that must go back to the queue, and it runs batches under the worker's task time limits.
# Written for this release: tests/test_broker_pin.py fails on any other until it is checked again.
CELERY_BATCHES_VERSION_FOR_FLUSH = "0.11"


class FrameBatches(Batches):
    """celery-batches, with the guarantees of a per-frame task: the messages are acknowledged
    when the batch has returned, given back to the queue when its pool process died or the
    database stayed away, and the batch runs under time limits of its own."""

    abstract = True
    ACK, REQUEUE = "ack", "requeue"

    def flush(self, requests):
        requests = list(requests)
        serializable = ([_simple_request(request) for request in requests],)

        def on_return(result: Any) -> None:
            # A batch that raised was logged by celery-batches and returns None: acknowledged like
            # a failed task, its frames stay pending until the backstop expires them.
            requeue = result == self.REQUEUE
            for request in requests:
                request.reject(requeue=True) if requeue else request.acknowledge()

        def on_error(failure: ExceptionInfo) -> None:
            # `failure.exception` wraps what the pool raised; `failure.type` is its class.
            lost = issubclass(failure.type, WorkerLostError)
            outcome = "requeued" if lost else "acknowledged"
            logger.warning("A batch of %s frames failed (%s); %s", len(requests), failure.type.__name__, outcome)
            for request in requests:
                request.reject(requeue=True) if lost else request.acknowledge()

        from celery_batches.trace import apply_batches_task

        return self._pool.apply_async(
            apply_batches_task,
            (self, serializable, 0, None),
            callback=on_return,
            error_callback=on_error,
            soft_timeout=BATCH_SOFT_TIME_LIMIT,
            timeout=BATCH_TIME_LIMIT,
        )


def _simple_request(request):
    from celery_batches import SimpleRequest

    return SimpleRequest.from_request(request)


@shared_task(
    base=FrameBatches,
    name=FRAME_ANALYSIS_TASK,
    queue=INFERENCE_QUEUE,
    serializer="msgpack",
    acks_late=True,
    flush_every=FRAME_BATCH_SIZE,
    flush_interval=FRAME_BATCH_WAIT_SECONDS,
)
def analyse_frame(requests) -> str:
    """A batch of `inference.analyse_frame(frame_id, jpeg)` messages (celery-batches requests)."""
    frames = []
    for request in requests:
        try:
            frames.append((int(request.args[0]), _image_bytes(request.args[1])))
        except (IndexError, TypeError, ValueError):  # not ours: dropped, not allowed to sink the batch
            logger.error("inference.analyse_frame %s: malformed arguments; dropped", request.id)
    try:
        analyse_frames_now(frames)
    except BatchGaveUp as error:
        logger.warning("Giving %s frames back to the queue: the database is away (%s)", len(frames), error)
        return FrameBatches.REQUEUE
    finally:
        close_old_connections()
    return FrameBatches.ACK


def analyse_baseline_snapshot_now(*, snapshot_id: int, image_bytes: bytes) -> str | None:
    """One baseline snapshot (sessions.BaselineSnapshot) through the frames' pipeline (face
    detection, quality gates, the campaign's model, its calibration): the outcome recorded, or None
    if there was nothing to do (withdrawn meanwhile, a redelivery, or the pipeline failed on it,
    which is logged and left to baseline_snapshots_expire_stale). Database errors propagate: the
    task retries them."""
    from inference.pipeline import FrameAnalysis
    from inference.services import baseline_snapshot_record_analysis
    from sessions.models import BaselineSnapshot
    from sessions.selectors import baseline_snapshot_for_analysis

    row = baseline_snapshot_for_analysis(snapshot_id=snapshot_id)
    if row is None:
        return None
    model_version = None
    if timezone.now() - row["created_at"] > timedelta(seconds=settings.MIMIK["FRAME_MAX_AGE_SECONDS"]):
        analysis = FrameAnalysis(BaselineSnapshot.Outcome.EXPIRED)
    else:
        model_version = _baseline_model_version(row["campaign__model_version_id"])
        analysis = _analyse_images([image_bytes], model_version)[0]
        if analysis is None:
            return None
    recorded = baseline_snapshot_record_analysis(
        snapshot_id=snapshot_id, analysis=analysis, model_version=model_version
    )
    return analysis.outcome if recorded else None


def _baseline_model_version(model_version_id: int | None):
    """`_model_version` without its minute of back-off: a per-snapshot task retries instead."""
    from inference.selectors import forget_cached_models, get_model_version_cached
    from inference.services import model_version_ensure_default

    model_version = get_model_version_cached(model_version_id=model_version_id)
    if model_version is None:
        model_version = model_version_ensure_default()
        forget_cached_models()
    return model_version


@shared_task(name=BASELINE_ANALYSIS_TASK, queue=INFERENCE_QUEUE, serializer="msgpack", **FRAME_TASK_OPTIONS)
def analyse_baseline_snapshot(snapshot_id: int, image: bytes | str) -> str | None:
    """`inference.analyse_baseline_snapshot(snapshot_id, jpeg)`: a tester's baseline snapshot."""
    try:
        return analyse_baseline_snapshot_now(snapshot_id=int(snapshot_id), image_bytes=_image_bytes(image))
    finally:
        close_old_connections()


@shared_task(
    name="inference.expire_stale_baseline_snapshots", soft_time_limit=120, time_limit=180, **MAINTENANCE_TASK_OPTIONS
)
def expire_stale_baseline_snapshots() -> int:
    """Backstop for baseline snapshots whose message was lost, like expire_stale_frames."""
    from inference.services import baseline_snapshots_expire_stale

    return baseline_snapshots_expire_stale(older_than=timedelta(seconds=2 * settings.MIMIK["FRAME_MAX_AGE_SECONDS"]))


@shared_task(name="inference.expire_stale_frames", soft_time_limit=120, time_limit=180, **MAINTENANCE_TASK_OPTIONS)
def expire_stale_frames() -> int:
    """Backstop for frames whose message was lost: pending for twice the maximum age -> expired."""
    from inference.services import frames_expire_stale

    return frames_expire_stale(older_than=timedelta(seconds=2 * settings.MIMIK["FRAME_MAX_AGE_SECONDS"]))


@shared_task(name="inference.purge_expired_frames", soft_time_limit=300, time_limit=360, **MAINTENANCE_TASK_OPTIONS)
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


# Celery's autodiscovery imports this module only: the second opinion's task registers from here.
from inference.second_opinion import tasks as second_opinion_tasks  # noqa: E402, F401
