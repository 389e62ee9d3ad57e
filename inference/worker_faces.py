"""Labelled face crops taken the workers' way, so a calibration fits what the workers output.

A FER2013 face is a tight 48x48 grey crop; the workers see a tester's 640x480 webcam JPEG, find
the face with BlazeFace, apply the quality gates and crop with a margin. Calibrating on the raw
crops fits a different input: in the known-truth runs (README) it doubled the estimated shares'
largest error. So each face is enlarged (bicubic, 150-240 px) onto the plain room wall of
inference.sample_frames at a random place with a little brightness change, encoded as the tester
page does, and taken through `inspect_image` (decode, detector, gates, crop). A face the gates
refuse is left out, as the workers would record an outcome instead of a prediction. The sizes,
places and brightness come from a generator seeded per face, so a run is repeatable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from inference.sample_frames import FRAME_HEIGHT, FRAME_WIDTH, _background, encode_jpeg

FACE_PX = (150, 241)  # enlarged face side, px (the detector finds FER faces well at this size)
BRIGHTNESS = (0.9, 1.1)
JPEG_QUALITY = 85
BACKGROUNDS = 5  # sample_frames' wall comes in a few seeded shadings
EDGE_MARGIN_PX = 10


def webcam_frame(face: np.ndarray, random: np.random.Generator) -> np.ndarray:
    """A 640x480 RGB frame with `face` (grey or RGB uint8) enlarged and placed on a room wall."""
    side = int(random.integers(*FACE_PX))
    enlarged = np.asarray(Image.fromarray(face).convert("RGB").resize((side, side), Image.Resampling.BICUBIC))
    frame = _background(FRAME_WIDTH, FRAME_HEIGHT, int(random.integers(BACKGROUNDS))).copy()
    x0 = int(random.integers(EDGE_MARGIN_PX, FRAME_WIDTH - side - EDGE_MARGIN_PX))
    y0 = int(random.integers(EDGE_MARGIN_PX, FRAME_HEIGHT - side - EDGE_MARGIN_PX))
    frame[y0 : y0 + side, x0 : x0 + side] = enlarged
    brightness = float(random.uniform(*BRIGHTNESS))
    return np.clip(frame.astype(np.float32) * brightness, 0, 255).astype(np.uint8)


def webcam_jpeg(face: np.ndarray, random: np.random.Generator) -> bytes:
    return encode_jpeg(webcam_frame(face, random), quality=JPEG_QUALITY)


@dataclass
class WorkerFaces:
    crops: list[np.ndarray]  # what the model sees, in the order of the faces given
    labels: np.ndarray
    given: int
    dropped: dict[str, int] = field(default_factory=dict)  # outcome -> faces the workers would not classify


def worker_faces(faces: list[np.ndarray], labels: np.ndarray, *, input_size: int, seed: int = 0) -> WorkerFaces:
    """Each face in its own webcam JPEG through the workers' decode, detector, gates and crop (the
    gate thresholds from the settings). Needs Django settings."""
    from inference.pipeline import inspect_image
    from inference.quality import Thresholds

    thresholds = Thresholds.from_settings()
    labels = np.asarray(labels)
    crops, kept, dropped = [], [], Counter()
    position = Counter()
    for index, (face, label) in enumerate(zip(faces, labels, strict=True)):
        # One generator per face, seeded by its class and place in it: a face's frame does not
        # depend on how many faces came before it, so a subset reproduces the same crops.
        random = np.random.default_rng([seed, int(label), position[int(label)]])
        position[int(label)] += 1
        analysis, crop = inspect_image(webcam_jpeg(face, random), thresholds=thresholds, min_crop_px=input_size)
        if crop is None:
            dropped[analysis.outcome] += 1
            continue
        crops.append(crop)
        kept.append(index)
    return WorkerFaces(crops, labels[kept], len(faces), dict(sorted(dropped.items())))
