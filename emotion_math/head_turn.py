"""How far a face is turned left or right (yaw), from the face detector's six keypoints.

The keypoints are BlazeFace's, in its order: the person's right eye, left eye, nose tip, mouth
centre, right ear tragion, left ear tragion, as (x, y) pixels of one image (inference.detection).

Model. Seen from above, the head turns about a vertical axis between the ears, and the nose tip
sits about 100 mm in front of that axis: turned by an angle θ, the nose tip moves 100 mm · sin θ
sideways of the ears' midpoint. The distance from the eyes to the mouth (about 67 mm on an adult)
does not change as the head turns, so it gives the scale:

    sin θ = (nose tip − ears' midpoint, along the eye line) / (k · |mouth − eyes' midpoint|)

with k = NOSE_DEPTH_PER_EYES_TO_MOUTH = 1.5 (100 mm / 67 mm), within 4 % of the value that fits the
generated frames below best. Offsets are measured along the line through the eyes, so a tilted head
(roll) is not read as a turn; a nod (pitch) shortens the eyes to mouth distance by its cosine only
(4 % at 15 degrees). The eyes' spacing, the textbook scale, gave larger errors on those frames:
BlazeFace shrinks it less than the turn does and guesses it erratically past 50 degrees.

Accuracy, measured on generated webcam frames whose turn is known (tests/emotion_math/turned_heads.py:
a public-domain portrait on a 3D head and its mirror image, 50-80 cm from a 640x480 camera, nods
and tilts up to 8 degrees, JPEG) through the workers' decode and detector (bench/head_turn.py, 10
frames per 5 degrees from -60 to 60): mean absolute error 3.2 degrees for turns up to 30 degrees,
5.6 for 35-45 and 10.5 for 50-60, where BlazeFace's keypoints lag behind some turns (and read a
frame and its mirror image differently). Every frame turned less than 15 degrees read under 18;
frames turned more than 45 degrees read from 27 up, 93 % of them over the default attention
threshold of 30. One face on a simple solid: real faces and lighting vary more.

Plain numpy: no Django and nothing from the apps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

RIGHT_EYE, LEFT_EYE, NOSE_TIP, MOUTH, RIGHT_EAR, LEFT_EAR = range(6)
# An adult's nose tip lies ~100 mm in front of the tragions; pupils to mouth centre ~67 mm.
NOSE_DEPTH_PER_EYES_TO_MOUTH = 1.5


def head_turn_degrees(keypoints: Sequence[Sequence[float]]) -> float:
    """The head's turn in degrees, -90 to 90: positive when the face turns towards the image's
    right (the nose tip moves right of the ears' midpoint), 0 when it faces the camera. Raises
    ValueError unless given the six keypoints."""
    points = np.asarray(keypoints, dtype=np.float64)
    if points.shape != (6, 2):
        raise ValueError(f"Expected 6 (x, y) keypoints, got an array of shape {points.shape}.")
    eye_line = points[LEFT_EYE] - points[RIGHT_EYE]
    across = eye_line / max(float(np.hypot(*eye_line)), 1e-9)
    ears_midpoint = (points[RIGHT_EAR] + points[LEFT_EAR]) / 2
    sideways = float(np.dot(points[NOSE_TIP] - ears_midpoint, across))
    eyes_to_mouth = float(np.hypot(*(points[MOUTH] - (points[RIGHT_EYE] + points[LEFT_EYE]) / 2)))
    sine = sideways / max(NOSE_DEPTH_PER_EYES_TO_MOUTH * eyes_to_mouth, 1e-9)
    return math.degrees(math.asin(min(1.0, max(-1.0, sine))))
