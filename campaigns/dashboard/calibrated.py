"""What the active calibration adds to the dashboard: how well the model counts each emotion at the
threshold (on the labelled calibration faces), and the estimated share of each emotion per variant
with intervals over testers, and the paired comparison of those shares.

Estimator: regularised probabilistic adjusted classify-and-count (ml.quantification), over every
emotion of the model (grouping "emotions"), applied to the mean of per-tester mean calibrated
probabilities, so every tester weighs the same, as in the ratios. It is PACC with a weak prior of
equal shares whose weight is measured on the calibration faces; in the known-truth simulation on
real faces (ml.real_faces_report) it missed less and less badly than plain PACC, EM, their average or
merged groups. It needs only means, which is all the dashboard aggregates (EM would need every frame).
The quantifier is refitted from the stored calibration faces, so calibrations stored before the
regularisation existed give the same estimates as new ones.
Intervals: percentile bootstrap over testers; each draw also resamples the calibration faces within
each emotion, because the matrix PACC inverts comes from a few hundred faces and its own error is
often larger than the campaign's (as in ml.quantification.bootstrap_shares).

Speed: the resampled matrices depend on the calibration only, so they are drawn once per process
and calibration; each draw's bounded least squares is solved for all draws at once by the
unconstrained solution (pseudo-inverse), which is the bounded one whenever it lies inside [0, 1];
only the draws outside fall back to ml.quantification.solve_shares. The prior enters both as extra
rows of the system (sqrt(lambda) * I against sqrt(lambda) * equal shares), with the calibration's lambda.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from campaigns.dashboard.wording import (
    counting_quality_sentence,
    emotion_name,
    estimator_description,
    estimator_note,
    share_verdict,
)
from inference.models import Calibration
from ml import calibration as calibration_math
from ml import quantification

ESTIMATOR = quantification.DEFAULT_ESTIMATOR  # regularised probabilistic adjusted classify-and-count
GROUPING = quantification.DEFAULT_GROUPING  # every emotion of the model on its own
SHARE_BOOTSTRAP_SAMPLES = 1000
SHARE_BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
SUM_WEIGHT = quantification.SUM_WEIGHT


@dataclass(frozen=True)
class CalibrationSet:
    """The calibration faces, calibrated, and the bootstrap's resampled matrices."""

    class_names: tuple[str, ...]
    calibrated: np.ndarray  # faces x classes
    labels: np.ndarray
    quantifier: dict  # refitted on the calibration faces (ml.quantification.fit_quantifier)
    regularisation: float  # the prior's weight lambda
    draw_matrices: np.ndarray  # samples x classes x classes
    draw_solvers: np.ndarray  # samples x classes x (2 classes + 1): pseudo-inverses of [M; w 1; sqrt(lambda) I]
    # The point estimate without bounds, shares = share_map @ observed + share_offset: linear, so the
    # mean of per-tester shares is the estimate of the mean (per_tester_shares).
    share_map: np.ndarray  # classes x classes
    share_offset: np.ndarray  # classes


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
    class_names = tuple(calibration.parameters["class_names"])
    raw = np.asarray(calibration.calibration_set["raw_probabilities"], dtype=np.float64)
    labels = np.asarray(calibration.calibration_set["labels"], dtype=np.int64)
    calibrated = calibration_math.apply_calibration(raw.reshape(len(labels), len(class_names)), calibration.parameters)
    random = np.random.default_rng(SHARE_BOOTSTRAP_SEED)
    class_count = len(class_names)
    draws = np.broadcast_to(np.eye(class_count), (SHARE_BOOTSTRAP_SAMPLES, class_count, class_count)).copy()
    for class_index in range(class_count):
        members = np.flatnonzero(labels == class_index)
        if members.size:
            chosen = members[random.integers(0, members.size, (SHARE_BOOTSTRAP_SAMPLES, members.size))]
            draws[:, :, class_index] = calibrated[chosen].mean(axis=1)
    # Refitted rather than read from calibration.quantifier: those stored before the regularised
    # estimator lack its prior weight, and a refit from the same faces gives the same matrices.
    quantifier = quantification.fit_quantifier(calibrated, labels, class_names)
    regularisation = float(quantifier["regularisation"])
    prior_rows = np.broadcast_to(np.sqrt(regularisation) * np.eye(class_count), draws.shape)
    systems = np.concatenate(
        [draws, np.full((SHARE_BOOTSTRAP_SAMPLES, 1, class_count), SUM_WEIGHT), prior_rows], axis=1
    )
    point_system = np.vstack(
        [np.asarray(quantifier["soft_matrix"]), np.full((1, class_count), SUM_WEIGHT), prior_rows[0]]
    )
    point_solver = np.linalg.pinv(point_system)
    prior_target = np.full(class_count, np.sqrt(regularisation) / class_count)
    return CalibrationSet(
        class_names=class_names,
        calibrated=calibrated,
        labels=labels,
        quantifier=quantifier,
        regularisation=regularisation,
        draw_matrices=draws,
        draw_solvers=np.linalg.pinv(systems),
        share_map=point_solver[:, :class_count],
        share_offset=point_solver[:, class_count:] @ np.concatenate([[SUM_WEIGHT], prior_target]),
    )


def per_tester_shares(calibration: Calibration, means: np.ndarray) -> np.ndarray:
    """Each tester's estimated shares (testers x variants x classes) from their mean calibrated
    probabilities (`means`, as estimated_shares takes them): the estimator without its bounds, which
    is linear, so their mean over testers is the estimated share wherever that lies inside [0, 1],
    and a paired comparison of them compares what the estimated shares compare."""
    data = calibration_set(calibration)
    return means @ data.share_map.T + data.share_offset


def solve_draws(observed: np.ndarray, data: CalibrationSet) -> np.ndarray:
    """ml.quantification.solve_shares for every draw (row of `observed`, with its own matrix)."""
    class_count = observed.shape[1]
    prior = np.full((len(observed), class_count), np.sqrt(data.regularisation) / class_count)
    targets = np.concatenate([observed, np.full((len(observed), 1), SUM_WEIGHT), prior], axis=1)
    shares = np.einsum("kij,kj->ki", data.draw_solvers, targets)
    # Draws whose unconstrained solution leaves [0, 1]: most of them when an emotion is (nearly)
    # absent, so they are solved together (bench: campaigns.dashboard.bench, "estimated_shares").
    outside = np.flatnonzero(np.any((shares < 0) | (shares > 1), axis=1))
    shares[outside] = quantification.solve_shares_batch(
        observed[outside], data.draw_matrices[outside], regularisation=data.regularisation
    )
    return shares / shares.sum(axis=1, keepdims=True)


def counting_quality(calibration: Calibration, threshold: float) -> list[dict[str, Any]]:
    """Per emotion, on the calibration faces, counting a face as the dashboard counts a frame (top
    class with calibrated P >= threshold): recall, precision and a sentence in plain words."""
    data = calibration_set(calibration)
    top_only = data.calibrated * quantification.one_hot_predictions(data.calibrated)
    figures = calibration_math.threshold_figures(top_only, data.labels, data.class_names, threshold)
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


def _tester_weights(tester_count: int) -> np.ndarray:
    """samples x testers: how often each draw picked each tester, divided by the number of testers."""
    random = np.random.default_rng(SHARE_BOOTSTRAP_SEED + 1)
    chosen = random.integers(0, tester_count, (SHARE_BOOTSTRAP_SAMPLES, tester_count))
    weights = np.zeros((SHARE_BOOTSTRAP_SAMPLES, tester_count))
    np.add.at(weights, (np.arange(SHARE_BOOTSTRAP_SAMPLES)[:, np.newaxis], chosen), 1.0)
    return weights / tester_count


def _interval(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - CONFIDENCE) / 2
    return np.quantile(draws, tail, axis=0), np.quantile(draws, 1 - tail, axis=0)


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
        "regularisation": data.regularisation,
        "testers": tester_count,
        "variants": [],
        "comparisons": [],
    }
    if tester_count == 0:
        return result
    weights = _tester_weights(tester_count)
    quantifier = data.quantifier
    draws_by_variant = []
    for v, variant in enumerate(variants):
        estimate = quantification.estimate_shares(means[:, v].mean(axis=0, keepdims=True), quantifier, ESTIMATOR)
        draws = solve_draws(weights @ means[:, v], data)
        draws_by_variant.append(draws)
        low, high = _interval(draws)
        result["variants"].append(
            {
                "id": str(variant.pk),
                "label": variant.label,
                "classes": [
                    {
                        "class_name": name,
                        "label": emotion_name(name),
                        "share": float(estimate[c]),
                        "low": float(low[c]),
                        "high": float(high[c]),
                    }
                    for c, name in enumerate(data.class_names)
                ],
            }
        )
    for (a, variant_a), (b, variant_b) in itertools.combinations(enumerate(variants), 2):
        shares_a, shares_b = (
            np.array([row["share"] for row in result["variants"][index]["classes"]]) for index in (a, b)
        )
        difference = shares_b - shares_a
        draws = draws_by_variant[b] - draws_by_variant[a]
        low, high = _interval(draws)
        # Two-sided bootstrap p-value, as ml.quantification.paired_comparison computes it.
        p_values = np.minimum(1.0, 2 * np.minimum((draws <= 0).mean(axis=0), (draws >= 0).mean(axis=0)))
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
                "p_value": float(p_values[c]),
                "clear": bool(low[c] > 0 or high[c] < 0),
            }
            row["verdict"] = share_verdict(row)
            result["comparisons"].append(row)
    return result
