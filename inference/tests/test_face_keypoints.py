"""The face detector's six keypoints: on the face's features, in pixels of the frame given."""

from __future__ import annotations

import math

from inference import sample_frames
from inference.detection import KEYPOINT_NAMES, detect_faces, get_full_range_detector
from inference.quality import decode_image

# The astronaut's features in the 512x512 photo, measured by eye (pupils, nose tip, between the lips).
ASTRONAUT_FEATURES = {
    "right_eye": (202.5, 100.5),
    "left_eye": (246.0, 104.0),
    "nose_tip": (225.0, 125.5),
    "mouth_centre": (224.0, 145.0),
}


def test_both_detectors_put_the_keypoints_on_the_astronauts_eyes_nose_and_mouth():
    photo = sample_frames.astronaut_rgb()
    for face in (detect_faces(photo)[0], get_full_range_detector().detect(photo)[0]):
        points = dict(zip(KEYPOINT_NAMES, face.keypoints, strict=True))
        for name, feature in ASTRONAUT_FEATURES.items():
            assert math.dist(points[name], feature) < 0.08 * face.width, (name, points[name])
        # Her right ear is on the image's left, beyond her right eye; the left ear on the other side.
        right_ear, left_ear = points["right_ear_tragion"], points["left_ear_tragion"]
        assert right_ear[0] < points["right_eye"][0] < points["left_eye"][0] < left_ear[0]
        assert face.y < right_ear[1] < face.y + face.height and face.y < left_ear[1] < face.y + face.height


def test_keypoints_found_on_the_reduced_decode_scale_to_the_uploaded_frame():
    jpeg = sample_frames.face_jpeg()
    reduced, full = decode_image(jpeg), decode_image(jpeg, long_side=None)
    assert reduced.scale == 2
    scaled = detect_faces(reduced.rgb)[0].scaled(reduced.scale)
    direct = detect_faces(full.rgb)[0]
    for from_reduced, from_full in zip(scaled.keypoints, direct.keypoints, strict=True):
        assert math.dist(from_reduced, from_full) < 0.05 * direct.width
