"""Calibration on generated data: a simulated model whose true posteriors are known.

Faces of class c have features x ~ N(separation * e_c, I), so the true posterior is
softmax(separation * x) under equal priors. Multiplying those logits by a factor > 1 gives a
deliberately over-confident model with a known temperature.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from emotion_math import calibration
from emotion_math.counting import threshold_figures
from emotion_math.report import describe_quantifier, format_figures_table, to_jsonable
from emotion_math.shares import QUANTIFIER_FORMAT
from tests.emotion_math.generated import CLASS_NAMES, generated_model


def test_expected_calibration_error_is_small_for_a_calibrated_model_and_large_for_an_overconfident_one() -> None:
    calibrated, labels = generated_model(2000)
    overconfident, _ = generated_model(2000, overconfidence=3.0)
    assert calibration.expected_calibration_error(calibrated, labels) < 0.02
    assert calibration.expected_calibration_error(overconfident, labels) > 0.15
    diagram = calibration.reliability_diagram_data(calibrated, labels)
    assert sum(diagram["counts"]) == len(labels)
    assert len(diagram["bin_edges"]) == calibration.ECE_BIN_COUNT + 1


def test_temperature_fit_lowers_held_out_ece_of_an_overconfident_model() -> None:
    probabilities, labels = generated_model(300, overconfidence=3.0, seed=1)
    held_out_probabilities, held_out_labels = generated_model(300, overconfidence=3.0, seed=2)
    parameters = calibration.fit_calibration(probabilities, labels, class_names=CLASS_NAMES, methods=["temperature"])
    # The generator sharpened the true logits threefold; the fit should find about that.
    assert 2.5 < parameters["temperature"] < 3.5
    figures = calibration.check_calibration(held_out_probabilities, held_out_labels, parameters)
    assert figures["ece_before"] > 0.15
    assert figures["ece_after"] < 0.05
    assert figures["nll_after"] < figures["nll_before"]
    # Temperature never changes which emotion is on top.
    calibrated = calibration.apply_calibration(held_out_probabilities, parameters)
    assert np.array_equal(calibrated.argmax(axis=1), held_out_probabilities.argmax(axis=1))


def test_a_calibration_that_makes_held_out_ece_worse_is_refused() -> None:
    calibrated_probabilities, labels = generated_model(300, seed=3)
    # Fitted on an under-confident model, then applied to a calibrated one: it sharpens what was right.
    underconfident, underconfident_labels = generated_model(300, overconfidence=0.4, seed=4)
    parameters = calibration.fit_calibration(
        underconfident, underconfident_labels, class_names=CLASS_NAMES, methods=["temperature"]
    )
    assert parameters["temperature"] < 0.6
    with pytest.raises(calibration.CalibrationRefused, match="raises held-out ECE"):
        calibration.check_calibration(calibrated_probabilities, labels, parameters)


def test_calibrate_refuses_when_the_held_out_half_gets_worse() -> None:
    # First half over-confident, second under-confident: what fits one half hurts the other.
    overconfident, labels = generated_model(150, overconfidence=3.0, seed=5)
    underconfident, _ = generated_model(150, overconfidence=0.5, seed=6)
    mixed = np.concatenate([overconfident, underconfident])
    mixed_labels = np.concatenate([labels, labels])
    with pytest.raises(calibration.CalibrationRefused):
        calibrate_halves_in_order(mixed, mixed_labels)


def calibrate_halves_in_order(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Fit on the first half, check on the second (calibrate() splits at random, which would mix them)."""
    half = len(labels) // 2
    parameters = calibration.fit_calibration(
        probabilities[:half], labels[:half], class_names=CLASS_NAMES, methods=["temperature"]
    )
    return calibration.check_calibration(probabilities[half:], labels[half:], parameters)


class CountingModel:
    """Stands in for EmotionClassifier: remembers how often it was run."""

    def __init__(self, probabilities: np.ndarray) -> None:
        self.probabilities = probabilities
        self.runs = 0

    def predict_faces(self, face_indices: list[int]) -> np.ndarray:
        self.runs += 1
        return self.probabilities[face_indices]


def test_recomputing_after_a_new_calibration_needs_no_model_run() -> None:
    probabilities, labels = generated_model(200, overconfidence=3.0, seed=7)
    model = CountingModel(probabilities)
    # The worker stores raw probabilities as {class name: probability} JSON, as Prediction does.
    stored_rows = json.loads(
        json.dumps(
            [
                dict(zip(CLASS_NAMES, map(float, row), strict=True))
                for row in model.predict_faces(list(range(len(labels))))
            ]
        )
    )
    assert model.runs == 1
    first = json.loads(
        json.dumps(calibration.fit_calibration(probabilities, labels, class_names=CLASS_NAMES, methods=["temperature"]))
    )
    second = json.loads(
        json.dumps(
            calibration.fit_calibration(
                probabilities[::2], labels[::2], class_names=CLASS_NAMES, methods=["vector_scaling"]
            )
        )
    )
    assert first["version"] != second["version"]
    raw = calibration.probabilities_matrix(stored_rows, CLASS_NAMES)
    for parameters in (first, second):
        recomputed = calibration.apply_calibration(raw, parameters)
        np.testing.assert_allclose(recomputed, calibration.apply_calibration(probabilities, parameters), atol=1e-6)
        np.testing.assert_allclose(recomputed.sum(axis=1), 1.0, atol=1e-9)
    # The dashboard's figures move with the calibration, from stored rows alone.
    confident_after = (calibration.apply_calibration(raw, first).max(axis=1) >= 0.8).sum()
    assert confident_after < (raw.max(axis=1) >= 0.8).sum()
    assert model.runs == 1


def test_identity_calibration_changes_nothing_and_versions_follow_the_parameters() -> None:
    probabilities, _ = generated_model(20, seed=8)
    identity = calibration.identity_calibration(CLASS_NAMES)
    np.testing.assert_allclose(calibration.apply_calibration(probabilities, identity), probabilities, atol=1e-6)
    assert calibration.identity_calibration(CLASS_NAMES)["version"] == identity["version"]
    assert calibration.identity_calibration(CLASS_NAMES, "mirror")["version"] != identity["version"]
    with pytest.raises(ValueError, match="7 classes"):
        calibration.apply_calibration(probabilities[:, :5], identity)


def test_vector_scaling_is_chosen_when_the_model_is_biased_towards_a_class() -> None:
    probabilities, labels = generated_model(300, overconfidence=2.0, seed=9)
    # The simulated model over-predicts "neutral" by a factor of e^1.5 regardless of the face.
    biased = calibration.softmax(np.log(probabilities) + 1.5 * (np.arange(len(CLASS_NAMES)) == 6))
    parameters = calibration.fit_calibration(biased, labels, class_names=CLASS_NAMES)
    assert parameters["method"] == "vector_scaling"
    assert set(parameters["validation_negative_log_likelihood"]) == set(calibration.CALIBRATION_METHODS)
    held_out, held_out_labels = generated_model(300, overconfidence=2.0, seed=10)
    held_out_biased = calibration.softmax(np.log(held_out) + 1.5 * (np.arange(len(CLASS_NAMES)) == 6))
    temperature_only = calibration.fit_calibration(biased, labels, class_names=CLASS_NAMES, methods=["temperature"])
    vector_ece = calibration.check_calibration(held_out_biased, held_out_labels, parameters)["ece_after"]
    temperature_ece = calibration.check_calibration(held_out_biased, held_out_labels, temperature_only)["ece_after"]
    assert calibration.accuracy(calibration.apply_calibration(held_out_biased, parameters), held_out_labels) > (
        calibration.accuracy(held_out_biased, held_out_labels)
    )
    assert vector_ece < temperature_ece + 0.01


def test_threshold_figures_count_recall_and_precision_per_emotion() -> None:
    names = ("happy", "sad", "neutral")
    probabilities = np.array(
        [
            [0.90, 0.05, 0.05],  # happy face, counted as happy
            [0.85, 0.10, 0.05],  # sad face, counted as happy: a wrong count
            [0.10, 0.85, 0.05],  # sad face, counted as sad
            [0.30, 0.60, 0.10],  # sad face, below the threshold
            [0.20, 0.20, 0.60],  # neutral face, below the threshold
        ]
    )
    labels = np.array([0, 1, 1, 1, 2])
    figures = threshold_figures(probabilities, labels, names, 0.8)
    assert (figures["happy"]["counted"], figures["happy"]["recall"], figures["happy"]["precision"]) == (2, 1.0, 0.5)
    assert figures["sad"]["recall"] == pytest.approx(1 / 3)
    assert figures["sad"]["precision"] == 1.0
    assert figures["neutral"]["precision"] is None
    assert not figures["sad"]["enough_counted"]


def test_accuracy_on_a_subset_of_classes_chooses_among_them() -> None:
    probabilities = np.array([[0.5, 0.3, 0.2], [0.6, 0.1, 0.3], [0.1, 0.2, 0.7]])
    labels = np.array([1, 2, 2])
    # Among classes 1 and 2 only: face 0 -> 1 (right), face 1 -> 2 (right), face 2 -> 2 (right).
    assert calibration.accuracy(probabilities, labels, [1, 2]) == 1.0
    assert calibration.accuracy(probabilities, labels) == pytest.approx(1 / 3)


def test_calibrate_fits_on_one_part_checks_on_the_rest_and_keeps_what_the_share_estimator_needs() -> None:
    probabilities, labels = generated_model(120, overconfidence=2.5, seed=11)
    result = calibration.calibrate(probabilities, labels, class_names=CLASS_NAMES, methods=["temperature"])
    assert result["held_out"]["after"]["ece"] < result["held_out"]["before"]["ece"]
    assert result["split"] == {"seed": 0, "fit_faces": 420, "held_out_faces": 420}
    document = json.loads(json.dumps(to_jsonable(result)))
    assert document["parameters"]["method"] == "temperature"
    assert len(document["quantifier"]["soft_matrix"]) == len(CLASS_NAMES)
    # What the dashboard's regularised share estimator needs is stored with the calibration.
    assert document["quantifier"]["format"] == QUANTIFIER_FORMAT
    assert document["quantifier"]["regularisation"] > 0
    assert "prior weight" in describe_quantifier(document["quantifier"])
    table = format_figures_table(result["held_out"]["before"], result["held_out"]["after"]).splitlines()
    assert table[0].startswith("accuracy ") and len(table) == 2 + len(CLASS_NAMES)


def test_stratified_halves_split_every_emotion_alike_and_follow_the_seed() -> None:
    labels = np.repeat(np.arange(3), [10, 20, 30])
    fit, held_out = calibration.stratified_halves(labels, 0.5, seed=4)
    assert np.bincount(labels[held_out]).tolist() == [5, 10, 15]
    assert sorted(np.concatenate([fit, held_out]).tolist()) == list(range(60))
    again, _ = calibration.stratified_halves(labels, 0.5, seed=4)
    assert np.array_equal(fit, again)
