"""A calibration's result outside Python: JSON-able values to store, and the lines the command line
prints (`manage.py calibrate_model`, `python -m ml.calibrate`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from emotion_math.shares import DEFAULT_ESTIMATOR, DEFAULT_GROUPING


def to_jsonable(value: Any) -> Any:
    """numpy arrays and scalars as lists and numbers, NaN and infinities as None."""
    if isinstance(value, dict):
        return {key: to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def format_figures_table(before: dict[str, Any], after: dict[str, Any]) -> str:
    """The held-out figures of emotion_math.calibration.calibrate, raw against calibrated."""
    threshold = before["threshold"]
    lines = [
        f"accuracy {before['accuracy']:.3f} -> {after['accuracy']:.3f}   ECE {before['ece']:.4f} -> {after['ece']:.4f}"
        f"   NLL {before['negative_log_likelihood']:.4f} -> {after['negative_log_likelihood']:.4f}",
        f"{'emotion':<10} {'faces':>5}   at P >= {threshold:g}: raw counted/recall/precision"
        "   calibrated counted/recall/precision",
    ]

    def cell(figures: dict[str, Any]) -> str:
        recall = "-" if figures["recall"] is None else f"{figures['recall']:.2f}"
        precision = "-" if figures["precision"] is None else f"{figures['precision']:.2f}"
        return f"{figures['counted']:>5} {recall:>5} {precision:>5}"

    for name, raw_figures in before["per_emotion"].items():
        lines.append(
            f"{name:<10} {raw_figures['faces']:>5}   {cell(raw_figures):>36}   {cell(after['per_emotion'][name]):>33}"
        )
    return "\n".join(lines)


def describe_quantifier(quantifier: dict[str, Any]) -> str:
    """One line on what the dashboard's estimated shares will rest on."""
    return (
        f"share estimator {DEFAULT_ESTIMATOR} ({DEFAULT_GROUPING}): "
        f"confusion matrix from {quantifier['faces']} labelled faces, prior weight {quantifier['regularisation']:.4g}"
    )
