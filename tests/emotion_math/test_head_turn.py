"""The head's turn read from the detector's keypoints, on generated frames whose turn is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emotion_math.head_turn import head_turn_degrees

from .turned_heads import read_turn, turned_head_frames

ANGLES = (-60, -50, -45, -30, -20, -10, 0, 10, 20, 30, 45, 50, 60)
ATTENTION_THRESHOLD_DEGREES = 30  # settings.MIMIK["ATTENTION_MAX_HEAD_TURN_DEGREES"] by default
# A frontal face's keypoints in pixels, BlazeFace's order: the person's right eye, left eye, nose
# tip, mouth centre, right ear, left ear.
FRONTAL = ((287, 200), (360, 200), (323, 240), (323, 275), (244, 215), (402, 215))


@pytest.fixture(scope="module")
def readings() -> list[tuple[float, float | None]]:
    frames = turned_head_frames(ANGLES, per_angle=4, seed=7)
    return [(frame.pose.yaw, read_turn(frame.jpeg)) for frame in frames]


def test_the_turn_is_read_within_a_few_degrees_on_generated_heads(readings) -> None:
    assert all(estimate is not None for _yaw, estimate in readings), "a face was not found"
    errors = np.array([abs(estimate - yaw) for yaw, estimate in readings])
    yaws = np.abs([yaw for yaw, _estimate in readings])
    assert errors[yaws <= 30].mean() < 5
    assert errors.mean() < 8
    # Each side is told apart from the other.
    assert all(math.copysign(1, estimate) == math.copysign(1, yaw) for yaw, estimate in readings if abs(yaw) >= 10)


def test_heads_turned_over_45_degrees_are_told_apart_from_heads_under_15(readings) -> None:
    turned = np.array([abs(estimate) for yaw, estimate in readings if abs(yaw) > 45])
    frontal = np.array([abs(estimate) for yaw, estimate in readings if abs(yaw) < 15])
    assert turned.min() > frontal.max()
    # At the default attention threshold: every frontal face counts as looking, and nearly every
    # turned one as looking away (BlazeFace's keypoints lag behind some turns past 45 degrees).
    assert frontal.max() < ATTENTION_THRESHOLD_DEGREES
    assert (turned > ATTENTION_THRESHOLD_DEGREES).mean() >= 0.85


def _rotated(points, degrees: float, centre=(320, 240)) -> list[tuple[float, float]]:
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    return [
        (
            centre[0] + (x - centre[0]) * cos - (y - centre[1]) * sin,
            centre[1] + (x - centre[0]) * sin + (y - centre[1]) * cos,
        )
        for x, y in points
    ]


def test_a_tilted_or_mirrored_face_reads_the_same_turn() -> None:
    turned = list(FRONTAL)
    turned[2] = (FRONTAL[2][0] + 40, FRONTAL[2][1])  # the nose tip moved towards the image's right
    estimate = head_turn_degrees(turned)
    assert 15 < estimate < 45
    assert abs(head_turn_degrees(FRONTAL)) < 1
    # A tilt of the whole face (roll) is not a turn.
    assert head_turn_degrees(_rotated(turned, 20)) == pytest.approx(estimate)
    # The mirror image turns the other way: the eyes and ears swap sides and names.
    mirrored = [(640 - x, y) for x, y in turned]
    mirrored = [mirrored[1], mirrored[0], mirrored[2], mirrored[3], mirrored[5], mirrored[4]]
    assert head_turn_degrees(mirrored) == pytest.approx(-estimate)
    with pytest.raises(ValueError, match="6"):
        head_turn_degrees(FRONTAL[:5])
