"""Celery tasks of the inference workers. (The inference owner implements analyse_frame.)"""

from celery import shared_task

from config.celery import INFERENCE_QUEUE


@shared_task(name="inference.analyse_frame", queue=INFERENCE_QUEUE, acks_late=True)
def analyse_frame(frame_id: int, image_b64: str) -> None:
    raise NotImplementedError
