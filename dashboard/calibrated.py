"""What the active calibration adds to the dashboard: how well the model counts each emotion at the
threshold (on the labelled calibration faces), and the estimated share of each emotion per variant
with intervals over testers, and the paired comparison of those shares.

Estimator: regularised probabilistic adjusted classify-and-count (emotion_math.shares), over every
emotion of the model, applied to the mean of per-tester mean calibrated probabilities, so every
tester weighs the same, as in the ratios. It is PACC with a weak prior of equal shares whose weight
is measured on the calibration faces; in the known-truth simulation on real faces
(ml.real_faces_report) it missed less and less badly than plain PACC, EM, their average or merged
groups. It needs only means, which is all the dashboard aggregates (EM would need every frame).
The quantifier is refitted from the stored calibration faces, so calibrations stored before the
regularisation existed give the same estimates as new ones.
Intervals and paired comparisons: emotion_math.share_bootstrap, over testers and the calibration
faces, the same bootstrap the study's simulations measure. Its resampled matrices depend on the
calibration only, so they are drawn once per process and calibration.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from dashboard.wording import (
    counting_quality_sentence,
    emotion_name,
    estimator_description,
    estimator_note,
    share_verdict,
)
from emotion_math import share_bootstrap
from emotion_math.calibration import apply_calibration
from emotion_math.counting import threshold_figures
from emotion_math.share_bootstrap import CalibrationSet, p_values, percentile_interval, share_draws
from emotion_math.shares import DEFAULT_ESTIMATOR, DEFAULT_GROUPING, one_hot_predictions
from inference.models import Calibration

ESTIMATOR = DEFAULT_ESTIMATOR  # regularised probabilistic adjusted classify-and-count
GROUPING = DEFAULT_GROUPING  # every emotion of the model on its own
CONFIDENCE = share_bootstrap.CONFIDENCE

_calibration_sets: dict[tuple[int, str], CalibrationSet] = {}
CALIBRATION_SETS_KEPT = 8


def calibration_set(calibration: Calibration) -> CalibrationSet:
    """Built once per process and calibration: a stored calibration never changes its numbers."""
    key = (calibration.pk, calibration.version)
    if key not in _calibration_sets:
        if len(_calibration_sets) >= CALIBRATION_SETS_KEPT:
            _calibration_sets.clear()
        _calibration_sets[key] = _build_calibration_set(calibration)
    return _calibration_sets[key]


def _build_calibration_set(calibration: Calibration) -> CalibrationSet:
    # Refitted rather than read from calibration.quantifier: those stored before the regularised
    # estimator lack its prior weight, and a refit from the same faces gives the same matrices.
    class_names = tuple(calibration.parameters["class_names"])
    raw = np.asarray(calibration.calibration_set["raw_probabilities"], dtype=np.float64)
    labels = np.asarray(calibration.calibration_set["labels"], dtype=np.int64)
    calibrated = apply_calibration(raw.reshape(len(labels), len(class_names)), calibration.parameters)
    return share_bootstrap.calibration_set(calibrated, labels, class_names)


def per_tester_shares(calibration: Calibration, means: np.ndarray) -> np.ndarray:
    """Each tester's estimated shares (testers x variants x classes) from their mean calibrated
    probabilities (`means`, as estimated_shares takes them): the estimator without its bounds, which
    is linear, so their mean over testers is the estimated share wherever that lies inside [0, 1],
    and a paired comparison of them compares what the estimated shares compare."""
    return share_bootstrap.per_tester_shares(means, calibration_set(calibration).bootstrap)


def counting_quality(calibration: Calibration, threshold: float) -> list[dict[str, Any]]:
    """Per emotion, on the calibration faces, counting a face as the dashboard counts a frame (top
    class with calibrated P >= threshold): recall, precision and a sentence in plain words."""
    data = calibration_set(calibration)
    top_only = data.calibrated * one_hot_predictions(data.calibrated)
    figures = threshold_figures(top_only, data.labels, data.class_names, threshold)
    rows = []
    for name in data.class_names:
        row = figures[name]
        rows.append(
            {
                "class_name": name,
                "label": emotion_name(name),
                **{key: row[key] for key in ("faces", "counted", "counted_right", "recall", "precision")},
                "precision_low": row["precision_interval"][0],
                "precision_high": row["precision_interval"][1],
                "enough_counted": row["enough_counted"],
                "sentence": counting_quality_sentence(name, row, threshold),
            }
        )
    return rows


def estimated_shares(*, calibration: Calibration, variants: list, means: np.ndarray) -> dict[str, Any]:
    """`means`: testers x variants x classes, each tester's mean calibrated probabilities (testers
    with a calibrated frame on every variant). Shares per variant, then paired differences."""
    data = calibration_set(calibration)
    tester_count = means.shape[0]
    label = estimator_description(ESTIMATOR, GROUPING, len(data.class_names))
    result: dict[str, Any] = {
        "estimator": ESTIMATOR,
        "grouping": GROUPING,
        "estimator_label": label,
        "note": estimator_note(label, tester_count),
        "regularisation": data.bootstrap.regularisation,
        "testers": tester_count,
        "variants": [],
        "comparisons": [],
    }
    if tester_count == 0:
        return result
    estimates, draws_by_variant = share_draws(means, data.bootstrap)
    for v, variant in enumerate(variants):
        low, high = percentile_interval(draws_by_variant[v], CONFIDENCE)
        result["variants"].append(
            {
                "id": str(variant.pk),
                "label": variant.label,
                "classes": [
                    {
                        "class_name": name,
                        "label": emotion_name(name),
                        "share": float(estimates[v, c]),
                        "low": float(low[c]),
                        "high": float(high[c]),
                    }
                    for c, name in enumerate(data.class_names)
                ],
            }
        )
    for (a, variant_a), (b, variant_b) in itertools.combinations(enumerate(variants), 2):
        difference = estimates[b] - estimates[a]
        draws = draws_by_variant[b] - draws_by_variant[a]
        low, high = percentile_interval(draws, CONFIDENCE)
        p_value = p_values(draws)
        for c, name in enumerate(data.class_names):
            row = {
                "class_name": name,
                "label": emotion_name(name),
                "variant_a": str(variant_a.pk),
                "variant_b": str(variant_b.pk),
                "label_a": variant_a.label,
                "label_b": variant_b.label,
                "n": tester_count,
                "difference": float(difference[c]),
                "low": float(low[c]),
                "high": float(high[c]),
                "p_value": float(p_value[c]),
                "clear": bool(low[c] > 0 or high[c] < 0),
            }
            row["verdict"] = share_verdict(row)
            result["comparisons"].append(row)
    return result
