"""Webcam frames of a textured 3D head turned by known angles, to check `emotion_math.head_turn`
with the real face detector.

The head is the smiling astronaut of `inference.sample_frames` (Eileen Collins in
`skimage.data.astronaut()`, a NASA portrait, public domain) put on a simple solid, then turned and
photographed with a pinhole camera:

- The photo is first rotated by 4.6 degrees so that her pupils are level; in that photo her pupils'
  midpoint and her nose tip share the column x = 225, which becomes the head's vertical turning axis.
  Her own pose in the photo counts as 0 degrees.
- The head is a stack of horizontal ellipses (`HEAD_OUTLINE`: half-width from the photo's head
  outline, half-depth from a typical head's), with a nose ridge rising 10 photo px (14 mm) at its tip
  and shallow eye sockets, so the nose tip stands about 24 mm in front of the eyes and the ears
  about 80 mm behind the nose tip, as on an adult head. A neck (a cylinder) and shoulders go with it.
- Every surface point takes the colour the frontal photo has at its (x, y): the photo projected
  straight onto the solid. The back of the head takes the colour at the outline of its row (hair).
- The camera has a 615 px focal length (a 640x480 webcam's 55 degree field of view). The head
  turns about the axis through its centre (`yaw`, positive when the face turns towards the image's
  right), nods (`pitch`) and tilts (`roll`); its centre is on the camera's line of sight at
  `distance_mm`, so the turn is measured from looking straight into the camera, and the frame is
  cut so that it lands at `centre`.
- The points are projected and z-buffered (the nearest few millimetres of points of a pixel are
  averaged), tiny gaps are filled, and the head is put on `inference.sample_frames`' room wall.

Deterministic: the same arguments give the same frame. Needs scikit-image (development dependency).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from inference.sample_frames import FRAME_HEIGHT, FRAME_WIDTH, _background, astronaut_rgb, encode_jpeg

# The photo's roll and the point it is levelled about (original photo px).
PHOTO_ROLL_DEGREES = 4.6
PHOTO_ROLL_CENTRE = (224.3, 102.3)
# In the levelled photo: the turning axis (column) and the row of the head's centre.
AXIS_X = 225.0
CENTRE_Y = 110.0
# Pupils 43.5 photo px apart; an adult's are about 63 mm apart.
MM_PER_PHOTO_PX = 63 / 43.5
# (photo row, half-width, half-depth) in photo px: the head's horizontal ellipses, top to chin.
HEAD_OUTLINE = (
    (15, 0, 0),
    (25, 30, 45),
    (40, 50, 60),
    (60, 56, 67),
    (80, 57, 70),
    (100, 57, 70),
    (115, 57, 70),
    (125, 51, 69),
    (130, 48, 68),
    (135, 42, 67),
    (140, 38, 66),
    (150, 35, 64),
    (160, 31, 61),
    (170, 22, 56),
    (179, 6, 50),
)
NECK_ROWS = (165, 235)
NECK_HALF_WIDTH, NECK_HALF_DEPTH, NECK_CENTRE_Z = 30, 27, -15
NECK_SKIN_ROW = 183
# Nose ridge: its height above the ellipse (photo px) from the bridge to the tip to its base.
NOSE_ROWS = (92, 125, 133)
NOSE_HEIGHTS = (0.0, 10.0, 0.0)
NOSE_WIDTHS = (3.5, 7.0, 7.0)  # Gaussian sigma across the nose, photo px
EYES = ((203.75, 102.3), (247.0, 102.3))
EYE_SOCKET_DEPTH, EYE_SOCKET_WIDTH = 2.0, 7.0
SURFACE_STEP_PX = 0.4  # between surface points, photo px (under a frame pixel at 50 cm)
FOCAL_PX = 615.0
NEAREST_MM = 4.0  # points this close behind a pixel's nearest point are averaged into it
SUIT_RGB = (225, 105, 55)
DETECTION_MIN_SCORE = 0.6  # the default of settings.MIMIK["FACE_DETECTION_MIN_SCORE"]


@dataclass(frozen=True)
class HeadPose:
    yaw: float  # degrees; positive: the face turns towards the image's right
    pitch: float = 0.0  # degrees; positive: the chin goes down
    roll: float = 0.0  # degrees; positive: clockwise in the image
    distance_mm: float = 600.0
    centre: tuple[float, float] = (FRAME_WIDTH / 2, FRAME_HEIGHT / 2 - 10)
    background_seed: int = 0
    brightness: float = 1.0
    mirrored: bool = False  # the photo mirrored: a second face, each side of hers turned towards the camera


@cache
def _levelled_photo() -> np.ndarray:
    rotation = cv2.getRotationMatrix2D(PHOTO_ROLL_CENTRE, PHOTO_ROLL_DEGREES, 1.0)
    photo = np.asarray(astronaut_rgb())
    levelled = cv2.warpAffine(photo, rotation, photo.shape[1::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return levelled.astype(np.float32)


def _sample(photo: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The photo's colours (N, 3) at N points (x, y) between its pixels, interpolated bilinearly."""
    # cv2.remap takes maps under 32767 rows: the points go through as rows of 1024.
    width = 1024
    padded = -len(x) % width
    maps = [np.pad(values.astype(np.float32), (0, padded)).reshape(-1, width) for values in (x, y)]
    return cv2.remap(photo, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).reshape(-1, 3)[: len(x)]


def _relief(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Nose ridge and eye sockets: photo px in front of (or behind) the ellipses."""
    height = np.interp(y, NOSE_ROWS, NOSE_HEIGHTS, left=0.0, right=0.0)
    width = np.interp(y, NOSE_ROWS, NOSE_WIDTHS)
    relief = height * np.exp(-((x - AXIS_X) ** 2) / (2 * width**2))
    for eye_x, eye_y in EYES:
        relief -= EYE_SOCKET_DEPTH * np.exp(-((x - eye_x) ** 2 + (y - eye_y) ** 2) / (2 * EYE_SOCKET_WIDTH**2))
    return relief


def _ellipse_stack(
    rows: np.ndarray,
    half_widths: np.ndarray,
    half_depths: np.ndarray,
    *,
    texture_rows: np.ndarray,
    with_relief: bool,
    mirrored: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Points (photo px about the turning axis and CENTRE_Y; z towards the camera) and colours of
    stacked ellipses, one per row; each row takes its colours from the photo's `texture_rows`."""
    around = math.ceil(2 * math.pi * max(half_widths.max(), half_depths.max()) / SURFACE_STEP_PX)
    angle = np.linspace(-math.pi, math.pi, around, endpoint=False)[None, :]
    across = half_widths[:, None] * np.sin(angle)
    depth = half_depths[:, None] * np.cos(angle)
    row = np.broadcast_to(rows[:, None], across.shape)
    front = depth >= 0
    if with_relief:
        depth = depth + np.where(front, _relief(AXIS_X + across, row), 0.0)
    # The back takes the colour at its row's outline, on its own side.
    edge = np.sign(across) * np.maximum(half_widths[:, None] - 2, 0)
    texture_x = AXIS_X + np.where(front, across, edge) * (-1 if mirrored else 1)
    texture_y = np.broadcast_to(texture_rows[:, None], across.shape)
    colours = _sample(_levelled_photo(), texture_x.ravel(), texture_y.ravel())
    points = np.stack([across.ravel(), row.ravel() - CENTRE_Y, depth.ravel()], axis=1)
    return points, colours


@cache
def _head_model(mirrored: bool) -> tuple[np.ndarray, np.ndarray]:
    """The head and neck: (N, 3) points in mm about the head's centre (x right, y down, z towards
    the camera), (N, 3) float colours."""
    outline = np.asarray(HEAD_OUTLINE, np.float64)
    rows = np.arange(outline[0, 0], outline[-1, 0] + SURFACE_STEP_PX, SURFACE_STEP_PX)
    head_points, head_colours = _ellipse_stack(
        rows,
        np.interp(rows, outline[:, 0], outline[:, 1]),
        np.interp(rows, outline[:, 0], outline[:, 2]),
        texture_rows=rows,
        with_relief=True,
        mirrored=mirrored,
    )
    neck_rows = np.arange(*NECK_ROWS, SURFACE_STEP_PX)
    neck_points, neck_colours = _ellipse_stack(
        neck_rows,
        np.full_like(neck_rows, NECK_HALF_WIDTH),
        np.full_like(neck_rows, NECK_HALF_DEPTH),
        # The photo's skin just below her chin, then her black collar.
        texture_rows=np.maximum(neck_rows, NECK_SKIN_ROW),
        with_relief=False,
        mirrored=mirrored,
    )
    neck_points[:, 2] += NECK_CENTRE_Z
    points = np.concatenate([head_points, neck_points]) * MM_PER_PHOTO_PX
    colours = np.concatenate([head_colours, neck_colours])
    points.setflags(write=False)
    colours.setflags(write=False)
    return points, colours


def _rotation(pose: HeadPose) -> np.ndarray:
    yaw, pitch, roll = (math.radians(value) for value in (pose.yaw, pose.pitch, pose.roll))
    # Yaw about the vertical axis: a point in front (z > 0) moves towards +x for a positive yaw.
    turn = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    # Pitch about the horizontal axis: a point in front moves down (+y) for a positive pitch.
    nod = np.array([[1, 0, 0], [0, math.cos(pitch), math.sin(pitch)], [0, -math.sin(pitch), math.cos(pitch)]])
    tilt = np.array([[math.cos(roll), -math.sin(roll), 0], [math.sin(roll), math.cos(roll), 0], [0, 0, 1]])
    return tilt @ nod @ turn


def _draw_shoulders(frame: np.ndarray, pose: HeadPose) -> None:
    scale = FOCAL_PX / (pose.distance_mm + 60)
    centre = (round(pose.centre[0]), round(pose.centre[1] + 300 * scale))
    cv2.ellipse(frame, centre, (round(230 * scale), round(140 * scale)), 0, 0, 360, SUIT_RGB, -1, cv2.LINE_AA)


def render_head(pose: HeadPose) -> np.ndarray:
    """A 640x480 RGB webcam frame of the head in `pose` (see the module docstring)."""
    points, colours = _head_model(pose.mirrored)
    rotated = points @ _rotation(pose).T
    depth = pose.distance_mm - rotated[:, 2]
    u = pose.centre[0] + FOCAL_PX * rotated[:, 0] / depth
    v = pose.centre[1] + FOCAL_PX * rotated[:, 1] / depth
    column, line = np.round(u).astype(np.int64), np.round(v).astype(np.int64)
    inside = (column >= 0) & (column < FRAME_WIDTH) & (line >= 0) & (line < FRAME_HEIGHT)
    pixel = line[inside] * FRAME_WIDTH + column[inside]
    depth, colours = depth[inside], colours[inside]
    nearest = np.full(FRAME_WIDTH * FRAME_HEIGHT, np.inf)
    np.minimum.at(nearest, pixel, depth)
    front = depth <= nearest[pixel] + NEAREST_MM
    pixel, colours = pixel[front], colours[front]
    count = np.bincount(pixel, minlength=nearest.size)
    sums = np.stack([np.bincount(pixel, colours[:, c], minlength=nearest.size) for c in range(3)], axis=1)
    covered = (count > 0).reshape(FRAME_HEIGHT, FRAME_WIDTH)
    head = (sums / np.maximum(count, 1)[:, None]).reshape(FRAME_HEIGHT, FRAME_WIDTH, 3)

    frame = _background(FRAME_WIDTH, FRAME_HEIGHT, pose.background_seed).copy()
    _draw_shoulders(frame, pose)
    frame[covered] = np.clip(head[covered], 0, 255).astype(np.uint8)
    # Pixels the points skipped inside the head (where its surface is seen edge-on): filled in.
    closed = cv2.morphologyEx(covered.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    gaps = (closed > 0) & ~covered
    if gaps.any():
        frame = cv2.inpaint(frame, gaps.astype(np.uint8), 2, cv2.INPAINT_TELEA)
    frame = cv2.GaussianBlur(frame, (0, 0), 0.6)  # a webcam's lens is not perfectly sharp
    if pose.brightness != 1.0:
        frame = np.clip(frame.astype(np.float32) * pose.brightness, 0, 255).astype(np.uint8)
    return frame


@dataclass(frozen=True)
class TurnedHead:
    pose: HeadPose
    jpeg: bytes


def turned_head_frames(angles: tuple[float, ...], *, per_angle: int, seed: int = 0) -> list[TurnedHead]:
    """`per_angle` frames for each yaw in `angles`, each with its own small nod and tilt (up to 8
    degrees), distance (50-80 cm), place in the frame, wall and brightness, drawn from a generator
    seeded by the angle and the frame's place, so a subset of angles reproduces the same frames."""
    frames = []
    for yaw in angles:
        for repeat in range(per_angle):
            random = np.random.default_rng([seed, round(10 * (yaw + 180)), repeat])
            pose = HeadPose(
                yaw=float(yaw),
                pitch=float(random.uniform(-8, 8)),
                roll=float(random.uniform(-8, 8)),
                distance_mm=float(random.uniform(500, 800)),
                centre=(float(random.uniform(250, 390)), float(random.uniform(190, 260))),
                background_seed=int(random.integers(5)),
                brightness=float(random.uniform(0.85, 1.15)),
                mirrored=bool(repeat % 2),
            )
            frames.append(TurnedHead(pose, encode_jpeg(render_head(pose), quality=85)))
    return frames


def read_turn(jpeg: bytes) -> float | None:
    """The turn `emotion_math.head_turn` reads from a frame, through the workers' decode and
    detector: None unless exactly one face passes the default detection score (0.6)."""
    from emotion_math.head_turn import head_turn_degrees
    from inference.detection import detect_faces
    from inference.quality import decode_image

    faces = [face for face in detect_faces(decode_image(jpeg).rgb) if face.score >= DETECTION_MIN_SCORE]
    return head_turn_degrees(faces[0].keypoints) if len(faces) == 1 else None
