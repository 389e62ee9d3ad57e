"""A short real WebM (VP8) video for browser tests, written with OpenCV: Chromium plays it, so a
tester page can be driven through a video advertisement from start to end."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FPS = 10


def webm_clip(path: Path, *, seconds: int = 4, size: tuple[int, int] = (320, 180)) -> Path:
    """`seconds` of video whose colour changes every frame (so each moment looks different)."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), FPS, (width, height))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write VP8 WebM here")
    for index in range(seconds * FPS):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[:, :] = (index * 6 % 256, 80, 255 - index * 6 % 256)
        cv2.putText(frame, f"{index / FPS:.1f}s", (20, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        writer.write(frame)
    writer.release()
    return path
