"""Webcam-like frames from labelled faces, and the face crops the workers would classify in them.

A FER2013 face is a tight 48x48 grey crop; a tester's snapshot is a 640x480 JPEG of a person in a
room. We enlarge the face (bicubic) to 150-240 px, put it on the plain room wall of
inference.sample_frames at a random place with a little brightness change, and encode a JPEG as
the tester page does. Which size, place and brightness comes from a seeded generator, so a run is
repeatable.

`worker_crop` runs the workers' own decode, detector, quality gates and crop
(inference.pipeline.inspect_image) on such a JPEG, so calibration faces can go through exactly the
path campaign frames take.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from inference.sample_frames import FRAME_HEIGHT, FRAME_WIDTH, _background, encode_jpeg

FACE_PX = (150, 241)  # enlarged face side, px (the detector finds FER faces well at this size)
BRIGHTNESS = (0.9, 1.1)
JPEG_QUALITY = 85
BACKGROUNDS = 5  # sample_frames' wall comes in a few seeded shadings


def webcam_frame(face: np.ndarray, random: np.random.Generator) -> np.ndarray:
    """A 640x480 RGB frame with `face` (grey or RGB uint8) enlarged and placed on a room wall."""
    side = int(random.integers(*FACE_PX))
    image = Image.fromarray(face)
    enlarged = np.asarray(image.convert("RGB").resize((side, side), Image.Resampling.BICUBIC))
    frame = _background(FRAME_WIDTH, FRAME_HEIGHT, int(random.integers(BACKGROUNDS))).copy()
    margin = 10
    x0 = int(random.integers(margin, FRAME_WIDTH - side - margin))
    y0 = int(random.integers(margin, FRAME_HEIGHT - side - margin))
    frame[y0 : y0 + side, x0 : x0 + side] = enlarged
    brightness = float(random.uniform(*BRIGHTNESS))
    return np.clip(frame.astype(np.float32) * brightness, 0, 255).astype(np.uint8)


def webcam_jpeg(face: np.ndarray, random: np.random.Generator) -> bytes:
    return encode_jpeg(webcam_frame(face, random), quality=JPEG_QUALITY)


def worker_crop(jpeg: bytes, *, input_size: int) -> tuple[str, np.ndarray | None]:
    """(outcome, face crop): what a worker records for this JPEG and the crop its model would see
    ("prediction" and the crop when every gate passes; the gate's outcome and None otherwise).
    Needs Django settings (the gate thresholds)."""
    from inference.pipeline import inspect_image
    from inference.quality import Thresholds

    analysis, crop = inspect_image(jpeg, thresholds=Thresholds.from_settings(), min_crop_px=input_size)
    return analysis.outcome, crop
