"""Writes for inference: queueing frames for analysis, registering models.

(Contract used by sessions/ and ml/; the inference owner fills in and may extend the bodies.)
"""

from __future__ import annotations

import base64

from django.db import transaction

from inference.models import ModelVersion


def frame_submit_for_analysis(*, frame_id: int, image_bytes: bytes) -> None:
    """Queue one accepted frame for the inference workers, after the frame row is committed.

    The image travels only inside the broker message; it is never written to disk here.
    """
    from inference.tasks import analyse_frame

    payload = base64.b64encode(image_bytes).decode("ascii")
    transaction.on_commit(lambda: analyse_frame.delay(frame_id, payload))


def model_version_register(
    *,
    name: str,
    version: str,
    file_path: str,
    framework: str,
    class_names: list[str],
    input_size: int,
    color_mode: str,
    scaling: str,
    outputs_logits: bool = False,
    source: str = "",
    metrics: dict | None = None,
    notes: str = "",
    activate: bool = False,
) -> ModelVersion:
    raise NotImplementedError("inference owner implements: register, load, answer on a known face")
