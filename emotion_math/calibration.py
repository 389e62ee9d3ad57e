"""Calibration of an emotion model's probabilities, and the figures that say what they mean.

Pure numpy/scipy, no model and no Django: the workers store raw probabilities, and
`apply_calibration(raw_probabilities, parameters)` turns them into calibrated ones at any time,
so a new calibration can be applied to old frames without running the model again.

The models we serve output probabilities (after their own softmax), so the "logits" we rescale
are log-probabilities: softmax(log p) == p, and dividing them by a temperature is exactly
temperature scaling of the model's own logits up to a per-row constant.

Methods (Guo et al. 2017, "On Calibration of Modern Neural Networks"):
- `temperature`: one scalar T, calibrated = softmax(log p / T). Never changes the top class.
- `per_class_temperature`: one scale per class, softmax(log p * w).
- `vector_scaling`: one scale and one bias per class, softmax(log p * w + b).
The richer methods are only chosen when they beat temperature on a validation split.

`calibrate` is what `manage.py calibrate_model` (and the study's `python -m ml.calibrate`) does with
labelled faces: fit on one stratified part, check on the rest, and fit the share estimator's
quantifier on all of them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize

from emotion_math.counting import threshold_figures
from emotion_math.shares import fit_quantifier

CALIBRATION_FORMAT = "mimik-calibration/1"
CALIBRATION_METHODS = ("temperature", "per_class_temperature", "vector_scaling")
ECE_BIN_COUNT = 15
# Quantised TFLite models can output exact zeros; log(0) would make the fit undefined.
PROBABILITY_FLOOR = 1e-7
# Validation NLL (nats per face) by which vector scaling or per-class temperatures must beat temperature.
RICHER_METHOD_MARGIN = 0.002


class CalibrationRefused(ValueError):
    """A fitted calibration made held-out expected calibration error worse."""


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def probabilities_to_logits(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probabilities, dtype=np.float64), PROBABILITY_FLOOR, None))


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, PROBABILITY_FLOOR, None))))


def accuracy(probabilities: np.ndarray, labels: np.ndarray, class_indices: Sequence[int] | None = None) -> float:
    """Top-class accuracy; with `class_indices`, only over faces of those classes and choosing among them
    (e.g. happy vs sad: faces labelled happy or sad, predicted as whichever of the two scores higher)."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    if class_indices is None:
        return float(np.mean(probabilities.argmax(axis=1) == labels))
    class_indices = np.asarray(class_indices)
    kept = np.isin(labels, class_indices)
    predicted = class_indices[probabilities[kept][:, class_indices].argmax(axis=1)]
    return float(np.mean(predicted == labels[kept]))


def reliability_diagram_data(
    probabilities: np.ndarray, labels: np.ndarray, bin_count: int = ECE_BIN_COUNT
) -> dict[str, list[float] | list[int]]:
    """Equal-width bins on the top-class probability: per bin, how many faces, their mean confidence
    and how often the top class was right."""
    confidences = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bin_count + 1)
    # Right-closed bins (lo, hi], with 0 itself in the first bin.
    bin_indices = np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, bin_count - 1)
    counts, mean_confidences, accuracies = [], [], []
    for bin_index in range(bin_count):
        in_bin = bin_indices == bin_index
        counts.append(int(in_bin.sum()))
        mean_confidences.append(float(confidences[in_bin].mean()) if in_bin.any() else float("nan"))
        accuracies.append(float(correct[in_bin].mean()) if in_bin.any() else float("nan"))
    return {
        "bin_edges": edges.tolist(),
        "counts": counts,
        "mean_confidences": mean_confidences,
        "accuracies": accuracies,
    }


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bin_count: int = ECE_BIN_COUNT) -> float:
    """ECE: the face-weighted mean gap between confidence and accuracy over equal-width bins."""
    diagram = reliability_diagram_data(np.asarray(probabilities), np.asarray(labels), bin_count)
    total = sum(diagram["counts"])
    error = 0.0
    for count, confidence, bin_accuracy in zip(
        diagram["counts"], diagram["mean_confidences"], diagram["accuracies"], strict=True
    ):
        if count:
            error += count / total * abs(bin_accuracy - confidence)
    return float(error)


def _rescale(logits: np.ndarray, method: str, scales: np.ndarray, biases: np.ndarray) -> np.ndarray:
    if method == "temperature":
        return softmax(logits / scales[0])
    return softmax(logits * scales + biases)


def _fit_method(logits: np.ndarray, labels: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Minimise negative log-likelihood; returns (scales, biases). For `temperature`, scales = [T]."""
    face_count, class_count = logits.shape
    one_hot = np.eye(class_count)[labels]

    def loss_and_gradient(scales: np.ndarray, biases: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """NLL of softmax(logits * scales + biases) and its gradient with respect to the scaled logits."""
        scaled = logits * scales + biases
        log_probabilities = scaled - np.logaddexp.reduce(scaled, axis=1, keepdims=True)
        loss = float(-np.sum(log_probabilities * one_hot) / face_count)
        return loss, (np.exp(log_probabilities) - one_hot) / face_count, log_probabilities

    if method == "temperature":

        def objective(weights: np.ndarray) -> tuple[float, np.ndarray]:
            loss, gradient, _ = loss_and_gradient(1.0 / weights[0], 0.0)
            return loss, np.array([float(np.sum(gradient * logits)) * -1.0 / weights[0] ** 2])

        result = minimize(objective, x0=[1.0], jac=True, method="L-BFGS-B", bounds=[(0.05, 20.0)])
        return np.array([float(result.x[0])]), np.zeros(class_count)
    if method == "per_class_temperature":

        def objective(weights: np.ndarray) -> tuple[float, np.ndarray]:
            loss, gradient, _ = loss_and_gradient(weights, 0.0)
            return loss, np.sum(gradient * logits, axis=0)

        result = minimize(
            objective, x0=np.ones(class_count), jac=True, method="L-BFGS-B", bounds=[(0.01, 20.0)] * class_count
        )
        return result.x, np.zeros(class_count)
    if method == "vector_scaling":
        # Biases are only defined up to a constant; pin their sum at zero with a tiny penalty.
        def objective(weights: np.ndarray) -> tuple[float, np.ndarray]:
            biases = weights[class_count:]
            loss, gradient, _ = loss_and_gradient(weights[:class_count], biases)
            penalty = 1e-6 * float(np.sum(biases)) ** 2
            bias_gradient = np.sum(gradient, axis=0) + 2e-6 * float(np.sum(biases))
            return loss + penalty, np.r_[np.sum(gradient * logits, axis=0), bias_gradient]

        result = minimize(
            objective,
            x0=np.r_[np.ones(class_count), np.zeros(class_count)],
            jac=True,
            method="L-BFGS-B",
            bounds=[(0.01, 20.0)] * class_count + [(-20.0, 20.0)] * class_count,
        )
        return result.x[:class_count], result.x[class_count:]
    raise ValueError(f"Unknown calibration method {method!r}; expected one of {CALIBRATION_METHODS}.")


def _parameters(
    method: str,
    class_names: Sequence[str],
    scales: np.ndarray,
    biases: np.ndarray,
    test_time_augmentation: str = "none",
) -> dict[str, Any]:
    # Test-time augmentation changes what the raw probabilities are, so it is part of the mapping.
    parameters: dict[str, Any] = {
        "format": CALIBRATION_FORMAT,
        "method": method,
        "class_names": list(class_names),
        "test_time_augmentation": test_time_augmentation,
    }
    if method == "temperature":
        parameters["temperature"] = round(float(scales[0]), 6)
    else:
        parameters["scales"] = [round(float(value), 6) for value in scales]
        parameters["biases"] = [round(float(value), 6) for value in biases]
    # The version is a digest of what changes the numbers, so equal parameters get equal versions
    # and a frame's stored calibration version names exactly the mapping that was used.
    canonical = json.dumps(parameters, sort_keys=True, separators=(",", ":"))
    parameters["version"] = f"{method}-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"
    return parameters


def identity_calibration(class_names: Sequence[str], test_time_augmentation: str = "none") -> dict[str, Any]:
    """Temperature 1: what "no calibration" looks like, so every frame can name one."""
    return _parameters("temperature", class_names, np.array([1.0]), np.zeros(len(class_names)), test_time_augmentation)


def fit_calibration(
    raw_probabilities: np.ndarray,
    labels: np.ndarray,
    *,
    class_names: Sequence[str],
    methods: Sequence[str] = CALIBRATION_METHODS,
    fold_count: int = 5,
    seed: int = 0,
    test_time_augmentation: str = "none",
) -> dict[str, Any]:
    """Choose a method by cross-validated NLL, then refit it on all the given faces.

    Temperature is the default; a richer method must beat it by RICHER_METHOD_MARGIN, because
    with a few hundred faces its extra parameters can fit noise.
    """
    logits = probabilities_to_logits(raw_probabilities)
    labels = np.asarray(labels)
    validation_scores: dict[str, float] = {}
    if len(methods) > 1:
        # k-fold cross-validated NLL: one split of a few hundred faces is too noisy to choose by.
        folds = np.array_split(np.random.default_rng(seed).permutation(len(labels)), fold_count)
        for method in methods:
            fold_losses = []
            for fold in folds:
                training = np.setdiff1d(np.arange(len(labels)), fold)
                scales, biases = _fit_method(logits[training], labels[training], method)
                fold_losses.append(
                    negative_log_likelihood(_rescale(logits[fold], method, scales, biases), labels[fold]) * len(fold)
                )
            validation_scores[method] = sum(fold_losses) / len(labels)
        # A richer method must win by a margin, else its extra parameters are not worth the risk.
        chosen = min(
            methods,
            key=lambda method: validation_scores[method] + (0 if method == "temperature" else RICHER_METHOD_MARGIN),
        )
    else:
        chosen = methods[0]
    scales, biases = _fit_method(logits, labels, chosen)
    parameters = _parameters(chosen, class_names, scales, biases, test_time_augmentation)
    parameters["validation_negative_log_likelihood"] = {
        method: round(score, 6) for method, score in validation_scores.items()
    }
    return parameters


def apply_calibration(raw_probabilities: np.ndarray, parameters: dict[str, Any]) -> np.ndarray:
    """Raw probabilities (N, classes), columns in `parameters["class_names"]` order -> calibrated."""
    raw_probabilities = np.atleast_2d(np.asarray(raw_probabilities, dtype=np.float64))
    if raw_probabilities.shape[1] != len(parameters["class_names"]):
        raise ValueError(
            f"Calibration is for {len(parameters['class_names'])} classes, probabilities have "
            f"{raw_probabilities.shape[1]}."
        )
    method = parameters["method"]
    logits = probabilities_to_logits(raw_probabilities)
    if method == "temperature":
        return _rescale(logits, method, np.array([parameters["temperature"]]), np.zeros(logits.shape[1]))
    if method in ("per_class_temperature", "vector_scaling"):
        return _rescale(logits, method, np.asarray(parameters["scales"]), np.asarray(parameters["biases"]))
    raise ValueError(f"Unknown calibration method {method!r}; expected one of {CALIBRATION_METHODS}.")


def probabilities_matrix(rows: Sequence[dict[str, float]], class_names: Sequence[str]) -> np.ndarray:
    """Stored `{class name: probability}` rows (Prediction.probabilities) -> (N, classes) array."""
    return np.array([[row[name] for name in class_names] for row in rows], dtype=np.float64).reshape(
        len(rows), len(class_names)
    )


def check_calibration(
    raw_probabilities: np.ndarray, labels: np.ndarray, parameters: dict[str, Any]
) -> dict[str, float]:
    """Held-out ECE and NLL before and after; raises CalibrationRefused when ECE gets worse."""
    calibrated = apply_calibration(raw_probabilities, parameters)
    figures = {
        "ece_before": expected_calibration_error(raw_probabilities, labels),
        "ece_after": expected_calibration_error(calibrated, labels),
        "nll_before": negative_log_likelihood(np.asarray(raw_probabilities), labels),
        "nll_after": negative_log_likelihood(calibrated, labels),
        "faces": len(labels),
    }
    if figures["ece_after"] > figures["ece_before"]:
        raise CalibrationRefused(
            f"Calibration {parameters['version']} raises held-out ECE from {figures['ece_before']:.4f} to "
            f"{figures['ece_after']:.4f} on {len(labels)} faces; keeping the current one."
        )
    return figures


def stratified_halves(labels: np.ndarray, held_out_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit and held-out indices, the same share of every class in each, fixed seed."""
    random = np.random.default_rng(seed)
    fit_indices, held_out_indices = [], []
    for class_index in np.unique(labels):
        members = random.permutation(np.flatnonzero(labels == class_index))
        held_out_count = round(len(members) * held_out_fraction)
        held_out_indices.append(members[:held_out_count])
        fit_indices.append(members[held_out_count:])
    return np.sort(np.concatenate(fit_indices)), np.sort(np.concatenate(held_out_indices))


def evaluation_figures(
    probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str], threshold: float
) -> dict[str, Any]:
    return {
        "accuracy": accuracy(probabilities, labels),
        "ece": expected_calibration_error(probabilities, labels),
        "negative_log_likelihood": negative_log_likelihood(probabilities, labels),
        "threshold": threshold,
        "per_emotion": threshold_figures(probabilities, labels, class_names, threshold),
    }


def calibrate(
    raw_probabilities: np.ndarray,
    labels: np.ndarray,
    *,
    class_names: Sequence[str],
    held_out_fraction: float = 0.5,
    seed: int = 0,
    methods: Sequence[str] = CALIBRATION_METHODS,
    threshold: float = 0.8,
    test_time_augmentation: str = "none",
) -> dict[str, Any]:
    """Fit on one part, check on the other (raises CalibrationRefused), measure the quantifier.

    Returns the result inference.calibrations.calibration_create stores: `parameters` (what
    apply_calibration needs), `check` and `held_out` figures before/after, and `quantifier`
    (emotion_math.shares.fit_quantifier on the calibrated probabilities of all the labelled faces)."""
    fit_indices, held_out_indices = stratified_halves(labels, held_out_fraction, seed)
    parameters = fit_calibration(
        raw_probabilities[fit_indices],
        labels[fit_indices],
        class_names=class_names,
        methods=methods,
        seed=seed,
        test_time_augmentation=test_time_augmentation,
    )
    check = check_calibration(raw_probabilities[held_out_indices], labels[held_out_indices], parameters)
    calibrated = apply_calibration(raw_probabilities, parameters)
    return {
        "parameters": parameters,
        "check": check,
        "split": {"seed": seed, "fit_faces": len(fit_indices), "held_out_faces": len(held_out_indices)},
        "held_out": {
            "before": evaluation_figures(
                raw_probabilities[held_out_indices], labels[held_out_indices], class_names, threshold
            ),
            "after": evaluation_figures(calibrated[held_out_indices], labels[held_out_indices], class_names, threshold),
            "reliability_before": reliability_diagram_data(
                raw_probabilities[held_out_indices], labels[held_out_indices]
            ),
            "reliability_after": reliability_diagram_data(calibrated[held_out_indices], labels[held_out_indices]),
        },
        "quantifier": fit_quantifier(calibrated, labels, class_names),
    }
