"""Handing an accepted snapshot to the inference workers.

The upload service calls these right after the snapshot's row committed. They raise
QueueUnavailable when the broker cannot take the message; the caller then deletes the row and
answers 503 with Retry-After, so the tester's page sends it again and nothing is lost.

The tasks are the inference app's; they are named here through Celery's registry (config.celery
holds the names) because ingestion comes before inference and does not import it."""

from __future__ import annotations

import logging

import kombu.exceptions
import redis.exceptions

from config.celery import BASELINE_ANALYSIS_TASK, FRAME_ANALYSIS_TASK, app

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 2


class QueueUnavailable(Exception):
    """The broker did not accept the message (Redis down or restarting)."""


def frame_submit_for_analysis(*, frame_id: int, image_bytes: bytes) -> None:
    """Queue the frame for `inference.analyse_frame`. The image travels inside the message (raw
    bytes, msgpack) and nowhere else, so nothing is written to disk. Without Redis (the embedded
    fallback) the task runs here and now."""
    _publish(FRAME_ANALYSIS_TASK, record_id=frame_id, image_bytes=image_bytes, what=f"frame {frame_id}")


def baseline_submit_for_analysis(*, snapshot_id: int, image_bytes: bytes) -> None:
    """Queue a baseline snapshot for `inference.analyse_baseline_snapshot`, on the frames' queue
    and through their pipeline, the image inside the message as for a frame."""
    _publish(BASELINE_ANALYSIS_TASK, record_id=snapshot_id, image_bytes=image_bytes, what=f"baseline {snapshot_id}")


def _publish(task_name: str, *, record_id: int, image_bytes: bytes, what: str) -> None:
    """One publish of `task_name(record_id, image_bytes)` with the task's own options (queue,
    msgpack), no retries: the tester's page retries on 503, which is quicker than blocking the
    upload while Redis restarts."""
    try:
        with app.pool.acquire(block=True, timeout=PUBLISH_TIMEOUT_SECONDS) as connection:
            # Connect with one quick try before publishing: kombu's default would retry for ~6 s.
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=1)
            app.signature(task_name).apply_async(
                args=[record_id, image_bytes],
                connection=connection,
                retry=False,
                # What the logs show of the arguments: not the JPEG, and no time spent writing it out.
                argsrepr=f"[{record_id}, <{len(image_bytes)} bytes>]",
                kwargsrepr="{}",
            )
    except (kombu.exceptions.OperationalError, redis.exceptions.RedisError, OSError) as error:
        logger.warning("Broker refused %s: %s", what, error)
        raise QueueUnavailable(str(error)) from error
