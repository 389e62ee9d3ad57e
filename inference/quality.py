"""Decoding a snapshot and the quality gates that decide whether its face can be read.

Quality gates (copy for the README)
-----------------------------------
Every frame ends in exactly one outcome. Before the emotion model sees a face, the worker checks,
in this order, and records the first gate that fails as the frame's outcome instead of guessing:

| outcome          | when                                                       | setting (env, default)             |
|------------------|------------------------------------------------------------|------------------------------------|
| `undecodable`    | not a complete JPEG/PNG/WebP image, or over 16 MP          | -                                  |
| `expired`        | waited in the queue longer than the maximum age            | `MIMIK_FRAME_MAX_AGE_SECONDS` 3600 |
| `no_face`        | no face with a detector score >= the minimum               | `MIMIK_FACE_DETECTION_MIN_SCORE` 0.6 |
| `multiple_faces` | two or more such faces                                     | (same)                             |
| `face_too_small` | the face box's shorter side (uploaded-frame px) is below   | `MIMIK_FACE_MIN_SIZE_PX` 60        |
| `too_dark`       | mean luminance (ITU-R 601 luma, 0-255) of the face box <   | `MIMIK_FACE_MIN_LUMINANCE` 40      |
| `overexposed`    | mean luminance of the face box >                           | `MIMIK_FACE_MAX_LUMINANCE` 220     |
| `blurred`        | sharpness (below) of the face is below                     | `MIMIK_FACE_MIN_SHARPNESS` 15      |

Sharpness is the variance of the Laplacian of the face box, resized to 64x64 grey and
contrast-normalised to a standard deviation of 25 grey levels, so that it does not depend on the
face's size or on the lighting (a dark face is "too dark", not "blurred"). On the sample frames a
sharp face scores 100-140; a Gaussian blur of radius 4 px on a 160 px face scores ~16 and radius 6
~9, where the FER model's answer for the smiling face drops from "happy 0.99" to "happy 0.06".
Faces are found with BlazeFace (see inference/detection.py); the figures are stored in
`Frame.quality` for every frame that got as far as a face.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from django.conf import settings
from PIL import Image, UnidentifiedImageError

from inference.detection import Detection

# The detector needs no more than 320 px on the long side (full range uses 192x192); decoding a
# JPEG at 1/2 or 1/4 scale skips most of the inverse DCT work.
DETECTION_LONG_SIDE_PX = 320
MAX_PIXELS = 16_000_000
SHARPNESS_SIZE = 64
SHARPNESS_CONTRAST_STD = 25.0


class UndecodableFrame(Exception):
    pass


@dataclass(frozen=True)
class Thresholds:
    face_min_size_px: int
    face_min_luminance: float
    face_max_luminance: float
    face_min_sharpness: float
    face_detection_min_score: float

    @classmethod
    def from_settings(cls) -> Thresholds:
        mimik = settings.MIMIK
        return cls(
            face_min_size_px=mimik["FACE_MIN_SIZE_PX"],
            face_min_luminance=mimik["FACE_MIN_LUMINANCE"],
            face_max_luminance=mimik["FACE_MAX_LUMINANCE"],
            face_min_sharpness=mimik["FACE_MIN_SHARPNESS"],
            face_detection_min_score=mimik["FACE_DETECTION_MIN_SCORE"],
        )


@dataclass
class DecodedFrame:
    rgb: np.ndarray  # possibly reduced: `scale` frame pixels per decoded pixel
    scale: float
    full_size: tuple[int, int]  # (width, height) of the uploaded frame
    image_bytes: bytes


def decode_image(image_bytes: bytes, *, long_side: int | None = DETECTION_LONG_SIDE_PX) -> DecodedFrame:
    """Decode to RGB, reduced in the decoder when `long_side` allows. Truncated or corrupt images
    raise UndecodableFrame: PIL refuses truncated data, where OpenCV would return a grey half.

    PIL reads the header (size, format: microseconds); a complete baseline RGB or grey JPEG, the
    browser's snapshot, is then decoded by OpenCV straight into a numpy array at the same libjpeg
    scale PIL's draft mode picks (identical pixels, a third less time: no PIL copies)."""
    try:
        image = Image.open(io.BytesIO(image_bytes))
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise UndecodableFrame(f"{width}x{height} is larger than {MAX_PIXELS} pixels")
        draft_size = None
        if long_side and image.format == "JPEG" and max(width, height) > long_side:
            factor = long_side / max(width, height)
            draft_size = (math.ceil(width * factor), math.ceil(height * factor))
        if image.format == "JPEG" and image.mode in ("RGB", "L") and _ends_with_eoi(image_bytes):
            rgb = _decode_jpeg_cv2(image_bytes, _draft_scale(width, height, draft_size))
        else:
            if draft_size:
                image.draft("RGB", draft_size)
            rgb = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise UndecodableFrame(str(error)) from error
    return DecodedFrame(rgb=rgb, scale=width / rgb.shape[1], full_size=(width, height), image_bytes=image_bytes)


def _draft_scale(width: int, height: int, draft_size: tuple[int, int] | None) -> int:
    """The libjpeg scale (1, 2, 4 or 8) PIL's `draft(mode, draft_size)` picks (JpegImageFile.draft):
    the largest that keeps the image at least `draft_size`."""
    if draft_size is None:
        return 1
    fits = min(width // draft_size[0], height // draft_size[1])
    return next(scale for scale in (8, 4, 2, 1) if fits >= scale)


_CV2_JPEG_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def _ends_with_eoi(image_bytes: bytes) -> bool:
    """A complete JPEG ends with the EOI marker (FF D9), possibly followed by padding; a truncated
    one does not, and goes through PIL, which refuses it."""
    return image_bytes[-64:].rstrip(b"\x00\r\n ").endswith(b"\xff\xd9")


def _decode_jpeg_cv2(image_bytes: bytes, reduction: int) -> np.ndarray:
    flags = _CV2_JPEG_FLAGS[reduction] | cv2.IMREAD_IGNORE_ORIENTATION  # PIL ignores EXIF rotation too
    bgr = cv2.imdecode(np.frombuffer(image_bytes, np.uint8), flags)
    if bgr is None:
        raise UndecodableFrame("OpenCV could not decode the JPEG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def face_figures(gray_face: np.ndarray) -> tuple[float, float]:
    """(mean luminance, sharpness) of a grey face crop; see the module docstring."""
    luminance = float(gray_face.mean())
    small = cv2.resize(gray_face, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    small = small.astype(np.float32)
    normalised = (small - small.mean()) * (SHARPNESS_CONTRAST_STD / max(float(small.std()), 1.0))
    sharpness = float(cv2.Laplacian(normalised, cv2.CV_32F).var())
    return luminance, sharpness


def gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def assess(
    decoded: DecodedFrame, detections: list[Detection], thresholds: Thresholds
) -> tuple[str, dict[str, Any], Detection | None]:
    """Apply the gates in order. Returns (outcome or 'ok', quality figures, the face in decoded
    pixels or None). Figures are in pixels of the uploaded frame."""
    faces = [d for d in detections if d.score >= thresholds.face_detection_min_score]
    quality: dict[str, Any] = {"face_count": len(faces)}
    if not faces:
        return "no_face", quality, None
    if len(faces) > 1:
        return "multiple_faces", quality, None
    face = faces[0]
    crop = decoded.rgb[face.y : face.y + face.height, face.x : face.x + face.width]
    luminance, sharpness = face_figures(gray(crop))
    face_px = round(min(face.width, face.height) * decoded.scale)
    quality.update(
        {
            "face_px": face_px,
            "detector_score": round(face.score, 4),
            "luminance": round(luminance, 1),
            "sharpness": round(sharpness, 1),
        }
    )
    if face_px < thresholds.face_min_size_px:
        return "face_too_small", quality, face
    if luminance < thresholds.face_min_luminance:
        return "too_dark", quality, face
    if luminance > thresholds.face_max_luminance:
        return "overexposed", quality, face
    if sharpness < thresholds.face_min_sharpness:
        return "blurred", quality, face
    return "ok", quality, face
