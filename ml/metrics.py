"""Evaluation figures computed with numpy only: confusion matrix, per-class report, calibration."""

from __future__ import annotations

import numpy as np

CALIBRATION_BINS = 15


def confusion_matrix(true_labels: np.ndarray, predicted_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true_labels, int), np.asarray(predicted_labels, int)), 1)
    return matrix


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def classification_report(matrix: np.ndarray, class_names: list[str]) -> dict:
    """Per class: precision, recall, F1, support and one-vs-rest accuracy; then overall accuracy,
    macro and support-weighted averages."""
    total = int(matrix.sum())
    per_class: dict[str, dict] = {}
    for index, name in enumerate(class_names):
        true_positives = matrix[index, index]
        predicted = matrix[:, index].sum()
        support = matrix[index, :].sum()
        precision = _ratio(true_positives, predicted)
        recall = _ratio(true_positives, support)
        true_negatives = total - predicted - support + true_positives
        per_class[name] = {
            "precision": precision,
            "recall": recall,
            "f1": _ratio(2 * precision * recall, precision + recall),
            "accuracy": _ratio(true_positives + true_negatives, total),
            "support": int(support),
        }
    supports = np.array([row["support"] for row in per_class.values()], dtype=float)
    averages = {}
    for average, weights in (("macro", np.ones_like(supports)), ("weighted", supports)):
        averages[average] = {
            metric: _ratio(
                sum(row[metric] * w for row, w in zip(per_class.values(), weights, strict=True)), weights.sum()
            )
            for metric in ("precision", "recall", "f1")
        }
    return {
        "classes": per_class,
        "accuracy": _ratio(np.trace(matrix), total),
        "macro_avg": averages["macro"],
        "weighted_avg": averages["weighted"],
        "support": total,
    }


def format_report(report: dict) -> str:
    """A plain-text table like scikit-learn's."""
    width = max(12, *(len(name) for name in report["classes"]))
    lines = [f"{'':>{width}}  precision     recall         f1   accuracy    support"]
    for name, row in report["classes"].items():
        lines.append(
            f"{name:>{width}}  {row['precision']:9.3f}  {row['recall']:9.3f}  {row['f1']:9.3f}"
            f"  {row['accuracy']:9.3f}  {row['support']:9d}"
        )
    lines.append("")
    lines.append(f"{'accuracy':>{width}}  {'':9}  {'':9}  {'':9}  {report['accuracy']:9.3f}  {report['support']:9d}")
    for label, key in (("macro avg", "macro_avg"), ("weighted avg", "weighted_avg")):
        row = report[key]
        lines.append(f"{label:>{width}}  {row['precision']:9.3f}  {row['recall']:9.3f}  {row['f1']:9.3f}")
    return "\n".join(lines) + "\n"


def reliability_bins(probabilities: np.ndarray, true_labels: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Equal-width bins on the top-class probability: count, mean confidence and accuracy per bin."""
    confidences = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(true_labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin i holds (edge_i, edge_i+1]; a confidence of exactly 0 goes to the first bin.
    indices = np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, bins - 1)
    rows = []
    for index in range(bins):
        members = indices == index
        count = int(members.sum())
        rows.append(
            {
                "lower": float(edges[index]),
                "upper": float(edges[index + 1]),
                "count": count,
                "confidence": float(confidences[members].mean()) if count else None,
                "accuracy": float(correct[members].mean()) if count else None,
            }
        )
    return rows


def expected_calibration_error(
    probabilities: np.ndarray, true_labels: np.ndarray, bins: int = CALIBRATION_BINS
) -> float:
    """ECE = sum over bins of (bin share of samples) x |accuracy - mean confidence|."""
    rows = reliability_bins(probabilities, true_labels, bins)
    total = sum(row["count"] for row in rows)
    if total == 0:
        return 0.0
    return float(sum(row["count"] / total * abs(row["accuracy"] - row["confidence"]) for row in rows if row["count"]))
