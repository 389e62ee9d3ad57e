"""Advertisement images for browser tests: a coloured poster with its label written on it."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont


def poster_png(label: str, colour: tuple[int, int, int], size: tuple[int, int] = (800, 600)) -> bytes:
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    draw.text((size[0] // 2, size[1] // 2), label, fill="white", anchor="mm", font=ImageFont.load_default(size=56))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
