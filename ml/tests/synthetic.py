"""A small labelled image set the tests generate: cartoon faces that smile (happy) or frown (sad)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def cartoon_face(emotion: str, size: int, generator: np.random.Generator) -> Image.Image:
    """Happy faces are bright and smile; sad ones are dark and frown. Noise and jitter vary each."""
    background = 200 if emotion == "happy" else 60
    pixels = generator.normal(background, 12, (size, size, 3)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    jitter = int(generator.integers(-size // 20, size // 20 + 1))
    left, top, right, bottom = size * 0.2 + jitter, size * 0.15, size * 0.8 + jitter, size * 0.9
    draw.ellipse((left, top, right, bottom), outline=(128, 128, 128), width=max(1, size // 40))
    mouth = (size * 0.35 + jitter, size * 0.55, size * 0.65 + jitter, size * 0.75)
    if emotion == "happy":
        draw.arc(mouth, 20, 160, fill=(30, 30, 30), width=max(2, size // 25))
    else:
        draw.arc(
            (mouth[0], mouth[1] + size * 0.1, mouth[2], mouth[3] + size * 0.1),
            200,
            340,
            fill=(230, 230, 230),
            width=max(2, size // 25),
        )
    return image


def make_image_folder(root: Path, per_class: int = 30, seed: int = 0, min_size: int = 40, max_size: int = 90) -> Path:
    """root/Happy/*.jpg|png and root/Sad/*.jpg|png, with sizes drawn between min_size and max_size."""
    generator = np.random.default_rng(seed)
    for emotion in ("happy", "sad"):
        folder = root / emotion.capitalize()
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            size = int(generator.integers(min_size, max_size + 1))
            suffix = ".jpg" if index % 2 else ".png"
            cartoon_face(emotion, size, generator).save(folder / f"{emotion}-{index:03d}{suffix}")
    return root
