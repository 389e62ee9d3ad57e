"""Fake camera input for Chromium: a y4m file that shows a real, smiling face (scikit-image's
astronaut photograph), and helpers to make snapshots of it for API tests."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data

WIDTH, HEIGHT = 640, 480


def astronaut_frame() -> np.ndarray:
    """640x480 RGB: the 512x512 astronaut photo scaled to the frame height, centred on grey."""
    face = cv2.resize(data.astronaut(), (HEIGHT, HEIGHT), interpolation=cv2.INTER_AREA)
    frame = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    left = (WIDTH - HEIGHT) // 2
    frame[:, left : left + HEIGHT] = face
    return frame


def write_y4m(path: Path, rgb_frame: np.ndarray, *, frames: int = 10) -> Path:
    """A still picture as a short y4m clip (Chromium loops it as the camera)."""
    yuv = cv2.cvtColor(cv2.cvtColor(rgb_frame, cv2.COLOR_RGB2BGR), cv2.COLOR_BGR2YUV_I420).tobytes()
    with path.open("wb") as handle:
        handle.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            handle.write(b"FRAME\n" + yuv)
    return path


def astronaut_y4m(directory: Path) -> Path:
    return write_y4m(directory / "astronaut.y4m", astronaut_frame())


def jpeg_bytes(rgb_frame: np.ndarray | None = None, *, quality: int = 80) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(astronaut_frame() if rgb_frame is None else rgb_frame).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
