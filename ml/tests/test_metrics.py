import numpy as np
import pytest

from ml.metrics import (
    classification_report,
    confusion_matrix,
    expected_calibration_error,
    format_report,
    reliability_bins,
)


def test_confusion_matrix_and_report_match_hand_counts():
    true_labels = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    predicted_labels = np.array([0, 0, 0, 1, 1, 1, 0, 2, 2, 1])
    matrix = confusion_matrix(true_labels, predicted_labels, 3)
    assert matrix.tolist() == [[3, 1, 0], [1, 2, 0], [0, 1, 2]]

    report = classification_report(matrix, ["happy", "sad", "angry"])
    assert report["accuracy"] == pytest.approx(0.7)
    happy = report["classes"]["happy"]
    assert happy["precision"] == pytest.approx(3 / 4)
    assert happy["recall"] == pytest.approx(3 / 4)
    assert happy["f1"] == pytest.approx(3 / 4)
    assert happy["accuracy"] == pytest.approx(8 / 10)  # one-vs-rest: 3 TP + 5 TN
    assert happy["support"] == 4
    sad = report["classes"]["sad"]
    assert sad["precision"] == pytest.approx(2 / 4)
    assert sad["recall"] == pytest.approx(2 / 3)
    assert report["classes"]["angry"]["precision"] == pytest.approx(1.0)
    assert report["macro_avg"]["recall"] == pytest.approx((3 / 4 + 2 / 3 + 2 / 3) / 3)
    assert "accuracy" in format_report(report)


def test_class_never_predicted_has_zero_precision_not_an_error():
    matrix = confusion_matrix(np.array([0, 1]), np.array([0, 0]), 2)
    report = classification_report(matrix, ["a", "b"])
    assert report["classes"]["b"]["precision"] == 0.0
    assert report["classes"]["b"]["f1"] == 0.0


def test_expected_calibration_error_by_hand():
    # Two bins used: 0.9 confidence (4 samples, 3 right) and 0.6 (4 samples, 1 right).
    probabilities = np.array([[0.9, 0.1]] * 4 + [[0.6, 0.4]] * 4)
    true_labels = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    expected = 0.5 * abs(0.75 - 0.9) + 0.5 * abs(0.25 - 0.6)
    assert expected_calibration_error(probabilities, true_labels) == pytest.approx(expected)
    bins = reliability_bins(probabilities, true_labels)
    assert len(bins) == 15
    assert sum(row["count"] for row in bins) == 8
    assert [row["count"] for row in bins if row["count"]] == [4, 4]


def test_perfectly_calibrated_predictions_have_near_zero_ece():
    generator = np.random.default_rng(0)
    confidence = generator.uniform(0.5, 1.0, 200_000)
    correct = generator.uniform(size=confidence.size) < confidence
    probabilities = np.stack([confidence, 1 - confidence], axis=1)
    true_labels = np.where(correct, 0, 1)
    assert expected_calibration_error(probabilities, true_labels) < 0.01
    overconfident = np.stack([np.full(1000, 0.99), np.full(1000, 0.01)], axis=1)
    assert expected_calibration_error(overconfident, np.arange(1000) % 2) == pytest.approx(0.49)
