"""One snapshot in, one outcome out: decode, find the face, check it, crop, classify.

Pure computation, no database: the task (inference.tasks) and the benchmark call it, and the
service `frame_record_analysis` stores what it returns. Models load once per process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotion_math import head_turn
from inference.classifier import EmotionClassifier, ModelSpec
from inference.detection import Detection, crop_face, detect_faces
from inference.quality import DecodedFrame, Thresholds, UndecodableFrame, assess, decode_image

KNOWN_FACE_PATH = Path(__file__).resolve().parent / "data" / "known_face.png"


@dataclass
class FrameAnalysis:
    outcome: str  # a Frame.Outcome value; "prediction" when the model answered
    quality: dict[str, Any] = field(default_factory=dict)
    face_box: list[int] | None = None  # [x, y, width, height] in pixels of the uploaded frame
    # The found face's turn (emotion_math.head_turn), also when a quality gate then refused it.
    head_turn_degrees: float | None = None
    probabilities: dict[str, float] | None = None
    top_class: str | None = None
    top_probability: float | None = None
    face_crop: Any = field(default=None, repr=False)  # kept in memory for the second opinion only


def inspect_image(image_bytes: bytes, *, thresholds: Thresholds, min_crop_px: int) -> tuple[FrameAnalysis, Any]:
    """Decode, detect, gate. Returns the analysis so far and the face crop (None unless usable)."""
    try:
        decoded = decode_image(image_bytes)
    except UndecodableFrame:
        return FrameAnalysis("undecodable"), None
    detections = detect_faces(decoded.rgb)
    verdict, quality, face = assess(decoded, detections, thresholds)
    analysis = FrameAnalysis(verdict if verdict != "ok" else "prediction", quality)
    if face is not None:
        full = face.scaled(decoded.scale)
        analysis.face_box = [full.x, full.y, full.width, full.height]
        analysis.head_turn_degrees = round(head_turn.head_turn_degrees(face.keypoints), 1)
    if verdict != "ok":
        return analysis, None
    return analysis, _face_crop(decoded, face, min_crop_px)


def _face_crop(decoded: DecodedFrame, face: Detection, min_crop_px: int) -> np.ndarray:
    """Crop from the reduced decode when the face there is at least the model's input size;
    otherwise decode once more at full size, so a small face is not upscaled twice."""
    if decoded.scale > 1 and min(face.width, face.height) < min_crop_px:
        full = decode_image(decoded.image_bytes, long_side=None)
        return crop_face(full.rgb, face.scaled(decoded.scale / full.scale))
    return crop_face(decoded.rgb, face)


def analyse_images(
    images: list[bytes], *, classifier: EmotionClassifier, thresholds: Thresholds | None = None
) -> list[FrameAnalysis]:
    """Analyse several snapshots; the usable faces go through the model as one batch."""
    thresholds = thresholds or Thresholds.from_settings()
    analyses, crops, crop_owners = [], [], []
    for image_bytes in images:
        analysis, crop = inspect_image(image_bytes, thresholds=thresholds, min_crop_px=classifier.spec.input_size)
        if crop is not None:
            analysis.face_crop = crop
            crops.append(crop)
            crop_owners.append(analysis)
        analyses.append(analysis)
    if crops:
        for analysis, row in zip(crop_owners, classifier.predict_faces(crops), strict=True):
            describe_probabilities(analysis, classifier.class_names, row)
    return analyses


def describe_probabilities(analysis: FrameAnalysis, class_names: tuple[str, ...], row: np.ndarray) -> None:
    top = int(np.argmax(row))
    analysis.probabilities = {name: round(float(p), 6) for name, p in zip(class_names, row, strict=True)}
    analysis.top_class = class_names[top]
    analysis.top_probability = float(row[top])


# --- Classifiers, once per process -----------------------------------------------------------

_classifiers: dict[int, EmotionClassifier] = {}
_classifiers_lock = threading.Lock()


def spec_for(model_version) -> ModelSpec:
    from inference.model_files import resolve_model_file

    return ModelSpec(
        file_path=resolve_model_file(model_version.file_path),
        framework=model_version.framework,
        class_names=tuple(model_version.class_names),
        input_size=model_version.input_size,
        color_mode=model_version.color_mode,
        scaling=model_version.scaling,
        outputs_logits=model_version.outputs_logits,
    )


def get_classifier(model_version) -> EmotionClassifier:
    """The loaded model for a registry entry, cached per process by its id (entries are never
    edited in place: a new file is a new version)."""
    with _classifiers_lock:
        classifier = _classifiers.get(model_version.pk)
        if classifier is None:
            classifier = EmotionClassifier(spec_for(model_version))
            _classifiers[model_version.pk] = classifier
        return classifier


def known_face_probabilities(classifier: EmotionClassifier) -> np.ndarray:
    """The model's answer on the bundled known face (the smiling astronaut, public domain)."""
    from PIL import Image

    rgb = np.asarray(Image.open(KNOWN_FACE_PATH).convert("RGB"))
    detections = detect_faces(rgb)
    face = crop_face(rgb, detections[0]) if detections else rgb
    return classifier.predict_faces([face])[0]
