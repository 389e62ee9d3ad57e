"""The second opinion's Celery task, on its own queue (config.celery.SECOND_OPINION_QUEUE) so a
slow second model never delays the primary one. Registered by inference.tasks, the module Celery's
autodiscovery imports."""

from __future__ import annotations

import logging

from celery import shared_task

from config.celery import SECOND_OPINION_QUEUE
from inference.tasks import FRAME_TASK_OPTIONS

logger = logging.getLogger(__name__)


@shared_task(name="inference.second_opinion", queue=SECOND_OPINION_QUEUE, **FRAME_TASK_OPTIONS)
def second_opinion(frame_id: int, model_version_id: int, face_crop_png_b64: str) -> bool:
    """Score one face crop (a small gray PNG in base64) with the second model; True if stored."""
    from inference.second_opinion.services import decode_face_crop, prediction_record_second_opinion

    face_crop = decode_face_crop(face_crop_png_b64)
    if face_crop is None:
        logger.warning("Second opinion for frame %s: the crop is not a readable PNG; dropped", frame_id)
        return False  # permanent: retrying would not make it readable
    return prediction_record_second_opinion(frame_id=frame_id, model_version_id=model_version_id, face_crop=face_crop)
