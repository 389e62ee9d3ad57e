"""What the upload path puts on the inference queue: Celery's own task message, its body msgpack
with the JPEG as raw bytes, and only the image's size in what the logs show of the arguments."""

from __future__ import annotations

import json
from base64 import b64decode

import msgpack
import pytest
import redis
from django.conf import settings

from config.celery import INFERENCE_QUEUE
from inference import sample_frames
from sessions.analysis_queue import baseline_submit_for_analysis, frame_submit_for_analysis


def _submit_frame(record_id: int, jpeg: bytes) -> None:
    frame_submit_for_analysis(frame_id=record_id, image_bytes=jpeg)


def _submit_baseline(record_id: int, jpeg: bytes) -> None:
    baseline_submit_for_analysis(snapshot_id=record_id, image_bytes=jpeg)


@pytest.mark.parametrize(
    ("submit", "task_name"),
    [(_submit_frame, "inference.analyse_frame"), (_submit_baseline, "inference.analyse_baseline_snapshot")],
)
def test_the_message_carries_the_jpeg_as_raw_bytes_and_logs_only_its_size(submit, task_name):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(INFERENCE_QUEUE)
    jpeg = sample_frames.face_jpeg()
    submit(7, jpeg)
    queued = broker.lrange(INFERENCE_QUEUE, 0, -1)
    broker.delete(INFERENCE_QUEUE)

    assert len(queued) == 1
    message = json.loads(queued[0])
    assert message["content-type"] == "application/x-msgpack"
    assert message["headers"]["task"] == task_name
    assert message["headers"]["argsrepr"] == f"[7, <{len(jpeg)} bytes>]"
    args, kwargs, _embed = msgpack.unpackb(b64decode(message["body"]))
    assert args == [7, jpeg] and kwargs == {}
