"""How well a model counts each emotion at a threshold, as the dashboard counts a frame: recall and
precision on labelled faces, with a Wilson interval for the precision."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# Fewer counted frames than this and a precision figure is too noisy to judge a model by.
MINIMUM_COUNTED_FRAMES = 20


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    if trials == 0:
        return (0.0, 1.0)
    share = successes / trials
    denominator = 1 + z**2 / trials
    centre = (share + z**2 / (2 * trials)) / denominator
    half_width = z * np.sqrt(share * (1 - share) / trials + z**2 / (4 * trials**2)) / denominator
    return (float(max(0.0, centre - half_width)), float(min(1.0, centre + half_width)))


def threshold_figures(
    probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str], threshold: float
) -> dict[str, dict[str, Any]]:
    """Per emotion, counting a face when P(emotion) >= threshold (as the dashboard's ratio does):
    recall = share of that emotion's faces that are counted, precision = share of counted faces that
    really show it. `enough_counted` says whether precision rests on at least MINIMUM_COUNTED_FRAMES."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    figures = {}
    for class_index, name in enumerate(class_names):
        counted = probabilities[:, class_index] >= threshold
        truly = labels == class_index
        counted_right = int(np.sum(counted & truly))
        figures[name] = {
            "faces": int(truly.sum()),
            "counted": int(counted.sum()),
            "counted_right": counted_right,
            "recall": counted_right / int(truly.sum()) if truly.any() else None,
            "precision": counted_right / int(counted.sum()) if counted.any() else None,
            "precision_interval": wilson_interval(counted_right, int(counted.sum())),
            "enough_counted": int(counted.sum()) >= MINIMUM_COUNTED_FRAMES,
        }
    return figures
