"""The one preprocessing function shared by training, evaluation and serving, so they cannot drift.

A model's registry entry (input size, colour mode, scaling) fully describes what it expects.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SCALINGS = ("minus_one_to_one", "zero_to_one", "none")
COLOR_MODES = ("grayscale", "rgb")


def to_color_mode(face: np.ndarray, color_mode: str) -> np.ndarray:
    """uint8 HxW or HxWx3 -> HxWx1 (grayscale, ITU-R 601 luma as PIL's "L") or HxWx3 (rgb)."""
    if color_mode not in COLOR_MODES:
        raise ValueError(f"Unknown colour mode {color_mode!r}; expected one of {COLOR_MODES}.")
    if face.ndim == 2:
        face = face[:, :, None]
    if color_mode == "grayscale":
        if face.shape[2] == 3:
            face = (face[:, :, :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[:, :, None]
            face = np.clip(face + 0.5, 0, 255).astype(np.uint8)
        return face
    if face.shape[2] == 1:
        face = np.repeat(face, 3, axis=2)
    return face


def scale_pixels(batch: np.ndarray, scaling: str) -> np.ndarray:
    if scaling == "minus_one_to_one":
        return batch.astype(np.float32) / 127.5 - 1.0
    if scaling == "zero_to_one":
        return batch.astype(np.float32) / 255.0
    if scaling == "none":
        return batch.astype(np.float32)
    raise ValueError(f"Unknown scaling {scaling!r}; expected one of {SCALINGS}.")


def preprocess_faces(faces: list[np.ndarray], *, input_size: int, color_mode: str, scaling: str) -> np.ndarray:
    """Face crops (uint8, any size, gray or RGB) -> float32 batch (N, size, size, channels)."""
    resized = []
    for face in faces:
        face = to_color_mode(np.asarray(face), color_mode)
        image = Image.fromarray(face[:, :, 0] if face.shape[2] == 1 else face)
        image = image.resize((input_size, input_size), Image.Resampling.BILINEAR)
        array = np.asarray(image)
        resized.append(array[:, :, None] if array.ndim == 2 else array)
    return scale_pixels(np.stack(resized), scaling)
