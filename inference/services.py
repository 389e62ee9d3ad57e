"""Writes for inference: queueing frames for analysis, registering models.

Contract used by sessions/ and ml/ (the inference owner implements the bodies):
- frame_submit_for_analysis: called by the upload service AFTER the frame row is committed.
  Raises QueueUnavailable when the broker cannot take the message; the caller then deletes the
  frame row and answers 503 with Retry-After, so the tester page retries and nothing is lost.
- frame_quality_verdict: synchronous face + quality check for the tester's camera check page;
  nothing is stored.
- model_version_register: put a model file into the registry after checking that it loads and
  answers on a known face.
"""

from __future__ import annotations

from inference.models import ModelVersion


class QueueUnavailable(Exception):
    """The broker did not accept the message (Redis down or restarting)."""


def frame_submit_for_analysis(*, frame_id: int, image_bytes: bytes) -> None:
    raise NotImplementedError


def frame_quality_verdict(*, image_bytes: bytes) -> str:
    """'ok', or the outcome that would be recorded: 'no_face', 'multiple_faces', 'face_too_small',
    'too_dark', 'overexposed', 'blurred', 'undecodable'."""
    raise NotImplementedError


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
    raise NotImplementedError
