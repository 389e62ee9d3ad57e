"""Real face frames for tests and benchmarks, made offline from public-domain photos.

The face is Eileen Collins in `skimage.data.astronaut()` (a NASA portrait, public domain), smiling.
We place her into 640x480 webcam-like frames with shifts, scales and brightness changes, and build
the awkward cases the quality gates must catch: no face, two faces, a dark frame, a tiny face, an
overexposed or blurred face and a corrupt JPEG. Everything is deterministic (fixed seeds), so
benchmark figures are comparable between runs.

scikit-image is a development dependency: production workers never import this module.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageFilter

FRAME_WIDTH = 640
FRAME_HEIGHT = 480
# The astronaut's face in the 512x512 original (x, y, width, height), found once with OpenCV's Haar
# cascade and checked by eye; every placement below is computed from it.
ASTRONAUT_FACE_BOX = (177, 66, 95, 95)
# Head and shoulders around it (x0, y0, x1, y1): what we paste, so two people never overlap.
ASTRONAUT_HEAD_REGION = (120, 0, 330, 330)


def _skimage_data():
    try:
        import skimage.data
    except ImportError as error:  # say plainly what is missing instead of a bare ImportError
        raise RuntimeError(
            "inference.sample_frames needs scikit-image (a development dependency, "
            "requirements-dev.txt) for its public-domain sample photos: pip install scikit-image"
        ) from error
    return skimage.data


@cache
def astronaut_rgb() -> np.ndarray:
    image = _skimage_data().astronaut()
    image.setflags(write=False)
    return image


@cache
def _background(width: int, height: int, seed: int) -> np.ndarray:
    """A plain room wall: a beige vertical gradient with soft, large, colourless shading."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(150, 105, height, dtype=np.float32)[:, None, None]
    tint = np.array([1.0, 0.96, 0.88], np.float32)[None, None, :]
    shading = rng.normal(128, 8, (4, 5)).clip(0, 255).astype(np.uint8)
    shading = np.asarray(Image.fromarray(shading).resize((width, height), Image.BICUBIC), np.float32)
    background = np.clip(rows * tint + (shading - 128)[:, :, None], 0, 255).astype(np.uint8)
    background.setflags(write=False)
    return background


def expected_face_box(*, face_px: int, center: tuple[int, int]) -> tuple[int, int, int, int]:
    """Where `face_frame(face_px=..., center=...)` puts the face: (x, y, width, height)."""
    return (round(center[0] - face_px / 2), round(center[1] - face_px / 2), face_px, face_px)


def _paste_astronaut(frame: np.ndarray, *, face_px: int, center: tuple[int, int]) -> None:
    fx, fy, fw, fh = ASTRONAUT_FACE_BOX
    rx0, ry0, rx1, ry1 = ASTRONAUT_HEAD_REGION
    scale = face_px / fw
    source = np.ascontiguousarray(astronaut_rgb()[ry0:ry1, rx0:rx1])
    size_w, size_h = max(1, round((rx1 - rx0) * scale)), max(1, round((ry1 - ry0) * scale))
    scaled = np.asarray(Image.fromarray(source).resize((size_w, size_h), Image.BILINEAR))
    # Offset of the scaled head so that its face centre lands on `center`.
    left = round(center[0] - (fx - rx0 + fw / 2) * scale)
    top = round(center[1] - (fy - ry0 + fh / 2) * scale)
    height, width = frame.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(width, left + size_w), min(height, top + size_h)
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = scaled[y0 - top : y1 - top, x0 - left : x1 - left]


def face_frame(
    *,
    face_px: int = 160,
    center: tuple[int, int] = (FRAME_WIDTH // 2, FRAME_HEIGHT // 2 - 20),
    brightness: float = 1.0,
    blur_radius: float = 0.0,
    width: int = FRAME_WIDTH,
    height: int = FRAME_HEIGHT,
    seed: int = 0,
) -> np.ndarray:
    """A webcam-like RGB frame with the smiling astronaut's face of about `face_px` pixels."""
    frame = _background(width, height, seed).copy()
    _paste_astronaut(frame, face_px=face_px, center=center)
    if blur_radius:
        frame = np.asarray(Image.fromarray(frame).filter(ImageFilter.GaussianBlur(blur_radius)))
    if brightness != 1.0:
        frame = np.clip(frame.astype(np.float32) * brightness, 0, 255).astype(np.uint8)
    return frame


def two_faces_frame() -> np.ndarray:
    """Two people side by side, both clearly visible."""
    frame = _background(FRAME_WIDTH, FRAME_HEIGHT, 1).copy()
    _paste_astronaut(frame, face_px=130, center=(170, 220))
    _paste_astronaut(frame, face_px=130, center=(470, 220))
    return frame


def no_face_frames() -> list[np.ndarray]:
    """Frames without a face: an empty room, a blank wall, and public-domain photos of things."""
    data = _skimage_data()
    frames = [
        _background(FRAME_WIDTH, FRAME_HEIGHT, 2).copy(),
        np.full((FRAME_HEIGHT, FRAME_WIDTH, 3), 128, np.uint8),
    ]
    for name in ("coffee", "rocket", "brick", "grass", "gravel", "coins", "hubble_deep_field", "moon"):
        photo = np.asarray(getattr(data, name)())
        if photo.ndim == 2:
            photo = np.repeat(photo[:, :, None], 3, axis=2)
        photo = np.ascontiguousarray(photo[:, :, :3])
        frames.append(np.asarray(Image.fromarray(photo).resize((FRAME_WIDTH, FRAME_HEIGHT), Image.BILINEAR)))
    return frames


def encode_jpeg(rgb: np.ndarray, *, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


# --- The named cases used by tests and the camera check ----------------------------------------


def face_jpeg(**kwargs) -> bytes:
    """A well-lit, sharp, frontal smiling face of about 160 px in a 640x480 frame."""
    return encode_jpeg(face_frame(**kwargs))


def blank_jpeg() -> bytes:
    return encode_jpeg(no_face_frames()[0])


def two_faces_jpeg() -> bytes:
    return encode_jpeg(two_faces_frame())


def dark_jpeg() -> bytes:
    """The face in a room with the light off: still findable, but far too dark to read."""
    return encode_jpeg(face_frame(brightness=0.15))


def overexposed_jpeg() -> bytes:
    return encode_jpeg(face_frame(brightness=2.0))


def blurred_jpeg() -> bytes:
    """Motion or focus blur strong enough that the expression cannot be read."""
    return encode_jpeg(face_frame(blur_radius=6))


def tiny_face_jpeg() -> bytes:
    """A face the detector still finds but smaller than the default 60 px gate."""
    return encode_jpeg(face_frame(face_px=44, center=(320, 200)))


def corrupt_jpeg() -> bytes:
    """A JPEG cut off after its header: the bytes start like an image but cannot be decoded."""
    data = face_jpeg()
    return data[:600]


@dataclass(frozen=True)
class SampleFrame:
    name: str
    jpeg: bytes
    has_face: bool


def benchmark_frames(count: int = 240) -> list[SampleFrame]:
    """A fixed set of `count` frames: about 85 % faces (shifts, scales 90-240 px, brightness
    0.6-1.4, a few blurred), the rest without a face. Deterministic for a given count."""
    rng = np.random.default_rng(2024)
    no_faces = [encode_jpeg(frame) for frame in no_face_frames()]
    frames: list[SampleFrame] = []
    for index in range(count):
        if index % 7 == 6:
            frames.append(SampleFrame(f"no-face-{index}", no_faces[index % len(no_faces)], False))
            continue
        face_px = int(rng.integers(90, 241))
        half = face_px // 2 + 10
        center = (int(rng.integers(half, FRAME_WIDTH - half)), int(rng.integers(half, FRAME_HEIGHT - half)))
        brightness = float(rng.uniform(0.6, 1.4))
        blur = 1.0 if index % 11 == 0 else 0.0
        rgb = face_frame(face_px=face_px, center=center, brightness=brightness, blur_radius=blur, seed=index % 5)
        frames.append(SampleFrame(f"face-{index}-{face_px}px", encode_jpeg(rgb), True))
    return frames
