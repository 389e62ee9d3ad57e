"""Labelled face folders (`<emotion>/*.png`, one sub-folder per emotion), as `manage.py
calibrate_model` and the training study read them. No Django: ml/ imports this too."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class FacesFolderMissing(FileNotFoundError):
    pass


def load_labelled_faces(folder: Path, class_names: Sequence[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """`folder/<class name>/*.png` -> (uint8 crops, label indices in class_names order).
    Grey images stay grey and colour images stay RGB, as the workers hand crops to the model: an
    RGB model calibrated on greyed faces would be calibrated for pixels it never sees. Classes
    without a sub-folder get no faces; sub-folders that are not classes are ignored."""
    faces: list[np.ndarray] = []
    labels: list[int] = []
    for class_index, name in enumerate(class_names):
        class_folder = folder / name
        if not class_folder.is_dir():
            continue
        for image_path in sorted(class_folder.iterdir()):
            if image_path.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(image_path) as image:
                    faces.append(np.asarray(image if image.mode == "L" else image.convert("RGB")))
                labels.append(class_index)
    if not faces:
        raise FacesFolderMissing(f"No labelled faces under {folder} (expected sub-folders named {list(class_names)}).")
    return faces, np.asarray(labels)


def faces_digest(folder: Path, class_names: Sequence[str]) -> str:
    """sha256 over the sorted '<class>/<file> <sha256 of the file>' lines of the labelled faces read,
    so a calibration says exactly which faces it came from without naming or holding them."""
    lines = []
    for name in class_names:
        class_folder = folder / name
        if class_folder.is_dir():
            for path in sorted(class_folder.iterdir()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    lines.append(f"{name}/{path.name} {hashlib.sha256(path.read_bytes()).hexdigest()}")
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
