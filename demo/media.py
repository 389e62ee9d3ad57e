"""Generated media for `manage.py demo`: advertisement posters, a short video spot, and webcam-like
snapshots of a real face for the demo testers.

Everything comes from what the runtime already installs (no scikit-image, no downloads). The face is
the smiling astronaut Eileen Collins (a NASA portrait, public domain) that the inference app ships
as its known face; two other expressions are made from it by mirroring parts of it top to bottom,
which turns the corners of the mouth (and the brows) down. The snapshots are analysed by the real
workers' pipeline like any other: these are only their inputs. Deterministic for a given seed.
"""

from __future__ import annotations

import importlib.util
import io
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from inference.pipeline import KNOWN_FACE_PATH

WEBCAM_SIZE = (640, 480)
# In the 128x128 known face: the mouth, and the brows (x0, y0, x1, y1).
MOUTH_BOX = (42, 80, 86, 104)
BROWS_BOX = (28, 38, 102, 53)
SMILE, GRIMACE, FROWN = "smile", "grimace", "frown"
# What goes wrong in front of a real webcam, each meant to end in one quality-gate outcome.
AWAY, VISITOR, FAR, DARK, GLARE, MOVED = "away", "visitor", "far", "dark", "glare", "moved"
PROBLEMS = (AWAY, VISITOR, FAR, DARK, GLARE, MOVED)


# --- Text in German: the font ----------------------------------------------------------------


# Debian's fonts-dejavu-core, where matplotlib (installed with the ml requirements, as `make run`
# does) is missing: the web and worker images leave it out.
SYSTEM_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def font_path() -> Path | None:
    """DejaVu Sans Bold as matplotlib ships it, else the system's copy, else None. Pillow's own
    default font has no umlauts: "Frühjahr" would show a box."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin is not None:
        shipped = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"
        if shipped.is_file():
            return shipped
    return SYSTEM_FONT if SYSTEM_FONT.is_file() else None


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    path = font_path()
    return ImageFont.truetype(str(path), size) if path is not None else ImageFont.load_default(size=size)


def _centred_text(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str, size: int, fill) -> None:
    """`text`, shrunk until it fits the box's width, in the box's centre."""
    while size > 12 and draw.textlength(text, font=font(size)) > box[2] - box[0]:
        size -= 4
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    draw.text(centre, text, fill=fill, font=font(size), anchor="mm")


def poster_png(title: str, subtitle: str, colour: tuple[int, int, int]) -> bytes:
    """A 1280x720 advertisement: a coloured field, a frame, a title and a line below it."""
    image = Image.new("RGB", (1280, 720), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((80, 80, 1200, 640), outline=(255, 255, 255), width=12)
    _centred_text(draw, (140, 220, 1140, 420), title, 104, (255, 255, 255))
    if subtitle:
        _centred_text(draw, (140, 440, 1140, 540), subtitle, 52, (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --- A short video spot ------------------------------------------------------------------------


@contextmanager
def _stderr_silenced():
    """Native libraries write to file descriptor 2 directly, past Python's sys.stderr."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


SPOT_SIZE = (640, 360)
SPOT_FPS = 10


def spot_webm(scenes: list[tuple[str, tuple[int, int, int]]], *, seconds_per_scene: int = 2) -> bytes | None:
    """A silent WebM (VP8) that shows each (text, colour) scene in turn, the colour fading into the
    next; None where OpenCV's video writer cannot encode VP8 on this machine."""
    import cv2

    frames_per_scene = seconds_per_scene * SPOT_FPS
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "spot.webm"
        with _stderr_silenced():  # FFmpeg names the VP8 tag it then uses anyway "not supported"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), SPOT_FPS, SPOT_SIZE)
        if not writer.isOpened():
            return None
        try:
            for index, (text, colour) in enumerate(scenes):
                following = scenes[min(index + 1, len(scenes) - 1)][1]
                for step in range(frames_per_scene):
                    mix = max(0.0, (step - frames_per_scene * 0.7) / (frames_per_scene * 0.3))
                    shade = tuple(round(a + (b - a) * mix) for a, b in zip(colour, following, strict=True))
                    image = Image.new("RGB", SPOT_SIZE, shade)
                    _centred_text(ImageDraw.Draw(image), (40, 100, 600, 260), text, 56, (255, 255, 255))
                    writer.write(cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
        return path.read_bytes()


# --- Webcam snapshots of the known face ----------------------------------------------------------


@cache
def _known_face() -> Image.Image:
    return Image.open(KNOWN_FACE_PATH).convert("RGB")


def _feather(size: tuple[int, int], radius: int) -> Image.Image:
    """A mask that is opaque inside and fades out over `radius` pixels at the edges."""
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle((radius, radius, size[0] - 1 - radius, size[1] - 1 - radius), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(radius / 2))


def _flip_region(image: Image.Image, box: tuple[int, int, int, int], radius: int) -> None:
    region = image.crop(box)
    image.paste(ImageOps.flip(region), box[:2], _feather(region.size, radius))


@cache
def expression_face(expression: str) -> Image.Image:
    """The known face smiling, with the mouth turned down (grimace), or with the brows too (frown)."""
    face = _known_face().copy()
    if expression in (GRIMACE, FROWN):
        _flip_region(face, MOUTH_BOX, 3)
    if expression == FROWN:
        _flip_region(face, BROWS_BOX, 2)
    return face


@dataclass(frozen=True)
class Sitting:
    """How one tester sits in front of the camera: the wall behind, where and how large the head is
    (pixels of the pasted head, the face is about 0.6 of it), the light, and which way it faces."""

    wall: tuple[int, int, int]
    head_px: int
    centre: tuple[int, int]
    brightness: float
    mirrored: bool

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Sitting:
        head_px = int(rng.integers(180, 250))
        margin = head_px // 2 + 40
        return cls(
            wall=tuple(int(value) for value in rng.integers(120, 200, size=3)),
            head_px=head_px,
            centre=(int(rng.integers(margin, WEBCAM_SIZE[0] - margin)), int(rng.integers(margin, 300))),
            brightness=float(rng.uniform(0.85, 1.15)),
            mirrored=bool(rng.random() < 0.5),
        )


def _wall(colour: tuple[int, int, int]) -> Image.Image:
    """A wall lit from above: the colour, a little lighter at the top than at the bottom."""
    width, height = WEBCAM_SIZE
    rows = np.linspace(1.08, 0.85, height, dtype=np.float32)[:, None, None]
    wall = rows * np.asarray(colour, np.float32)[None, None, :] * np.ones((1, width, 1), np.float32)
    return Image.fromarray(np.clip(wall, 0, 255).astype(np.uint8))


def _paste_head(frame: Image.Image, face: Image.Image, *, head_px: int, centre: tuple[int, int], tilt: float) -> None:
    head = face.rotate(tilt, resample=Image.BICUBIC, fillcolor=(200, 200, 200)).resize((head_px, head_px))
    frame.paste(head, (centre[0] - head_px // 2, centre[1] - head_px // 2), _feather(head.size, max(2, head_px // 30)))


def webcam_jpeg(*, sitting: Sitting, expression: str, rng: np.random.Generator, problem: str | None = None) -> bytes:
    """One 640x480 snapshot of the tester: the head moves and tilts a little between snapshots; a
    `problem` (PROBLEMS) makes it a snapshot the quality gates turn away."""
    frame = _wall(sitting.wall)
    face = expression_face(expression)
    face = ImageOps.mirror(face) if sitting.mirrored else face
    jitter = rng.integers(-12, 13, size=2)
    centre = (sitting.centre[0] + int(jitter[0]), sitting.centre[1] + int(jitter[1]))
    head_px = sitting.head_px + int(rng.integers(-10, 11))
    tilt = float(rng.uniform(-5, 5))
    brightness = sitting.brightness * float(rng.uniform(0.95, 1.05))
    if problem == VISITOR:  # someone looks over the tester's shoulder
        _paste_head(frame, expression_face(SMILE), head_px=160, centre=(480, 220), tilt=-tilt)
        centre, head_px = (170, 240), 160
    elif problem == FAR:  # leaned back: the face is smaller than the gate's minimum
        head_px = 85
    elif problem == DARK:
        brightness = 0.15
    if problem != AWAY:  # away: the tester left the camera's view
        _paste_head(frame, face, head_px=head_px, centre=centre, tilt=tilt)
    if problem == MOVED:
        frame = frame.filter(ImageFilter.GaussianBlur(5))
    pixels = np.clip(np.asarray(frame, np.float32) * brightness, 0, 255)
    if problem == GLARE:  # a window behind the camera washes the picture out towards white
        pixels = 255 - (255 - pixels) * 0.25
    pixels = pixels.astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
