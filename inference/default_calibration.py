"""The calibration every fresh installation starts with: the default model's, shipped as numbers.

inference/data/default_model_calibration.json holds what the dashboard needs to count on calibrated
probabilities and estimate emotion shares: the fitted parameters (emotion_math.calibration), the share
estimator's matrices (emotion_math.shares.fit_quantifier), the held-out figures and, per labelled face,
the model's raw probabilities and the label (the dashboard refits the matrices and draws its
bootstrap from them). No image. It names the model it was fitted on (name, version, class names,
sha256 of the file), and is refused for any other model: another file gives other raw probabilities.

Written by `manage.py calibrate_model --write-data-file` (see its help); installed by migration
0006 and by `model_version_ensure_default` (inference.calibrations.calibration_install_default).
Light imports only: the migration reads it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path
from typing import Any

DEFAULT_CALIBRATION_FILE = Path(__file__).resolve().parent / "data" / "default_model_calibration.json"
SHIPPED_CALIBRATION_FORMAT = "mimik-shipped-calibration/1"
# Raw probabilities are stored as integers in millionths: the same 6 decimals calibration_create
# keeps, in about two thirds of the characters.
PROBABILITY_UNIT = 1_000_000


class ShippedCalibrationRefused(ValueError):
    """The data file was fitted on another model, or is not a shipped calibration."""


def model_file_sha256(file_path: str) -> str | None:
    """sha256 of a registry entry's file (inference.model_files); None when missing."""
    from inference.model_files import resolve_model_file

    try:
        path = resolve_model_file(file_path)
    except importlib.metadata.PackageNotFoundError:
        return None
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_default_calibration(path: Path = DEFAULT_CALIBRATION_FILE) -> dict[str, Any]:
    return json.loads(path.read_text())


def faces_label(document: dict[str, Any]) -> str:
    """What the faces were, for Calibration.source: e.g. "FER2013 PublicTest"."""
    fitted_on = document["fitted_on"]
    return f"{fitted_on['dataset']} {fitted_on['split']}".strip()


def shipped_calibration_fields(
    document: dict[str, Any], *, name: str, version: str, class_names: list[str], file_sha256: str | None
) -> dict[str, Any]:
    """The Calibration row's values from the data file, after checking it was fitted on exactly
    this model. Raises ShippedCalibrationRefused with the reason otherwise."""
    if document.get("format") != SHIPPED_CALIBRATION_FORMAT:
        raise ShippedCalibrationRefused(f"Not a shipped calibration (format {document.get('format')!r}).")
    model = document["model"]
    given = {"name": name, "version": version, "class_names": list(class_names), "sha256": file_sha256}
    for key, value in given.items():
        if model[key] != value:
            raise ShippedCalibrationRefused(
                f"The shipped calibration is for {model['name']} {model['version']} ({key} {model[key]!r}); "
                f"this model has {value!r}."
            )
    parameters = document["parameters"]
    calibration_set = document["calibration_set"]
    return {
        "version": parameters["version"],
        "method": parameters["method"],
        "test_time_augmentation": parameters.get("test_time_augmentation", "none"),
        "parameters": parameters,
        "quantifier": document["quantifier"],
        "calibration_set": {
            "raw_probabilities": [
                [value / PROBABILITY_UNIT for value in row] for row in calibration_set["raw_probabilities_millionths"]
            ],
            "labels": list(calibration_set["labels"]),
        },
        "metrics": {"check": document["held_out"]["check"], "split": document["held_out"]["split"]},
        "faces": len(calibration_set["labels"]),
        "split_seed": document["held_out"]["split"]["seed"],
        "source": faces_label(document),
    }


def shipped_calibration_document(
    *,
    model: dict[str, Any],
    fitted_on: dict[str, Any],
    parameters: dict[str, Any],
    quantifier: dict[str, Any],
    held_out: dict[str, Any],
    raw_probabilities: Any,
    labels: Any,
    command: str,
) -> dict[str, Any]:
    """The data file's content (JSON-able values only). No timestamp, so the same faces and
    model give the same file byte for byte."""
    return {
        "format": SHIPPED_CALIBRATION_FORMAT,
        "model": model,
        "fitted_on": fitted_on,
        "command": command,
        "parameters": parameters,
        "quantifier": quantifier,
        "held_out": held_out,
        "calibration_set": {
            "labels": [int(label) for label in labels],
            "raw_probabilities_millionths": [
                [round(float(probability) * PROBABILITY_UNIT) for probability in row] for row in raw_probabilities
            ],
        },
    }


def write_default_calibration(document: dict[str, Any], path: Path = DEFAULT_CALIBRATION_FILE) -> None:
    """Indented except for the per-face rows, one face a line: readable and diffable, still small."""
    text = json.dumps({**document, "calibration_set": "@@"}, indent=1)
    rows = document["calibration_set"]["raw_probabilities_millionths"]
    calibration_set = (
        '{\n  "labels": '
        + json.dumps(document["calibration_set"]["labels"], separators=(",", ":"))
        + ',\n  "raw_probabilities_millionths": [\n'
        + ",\n".join(json.dumps(row, separators=(",", ":")) for row in rows)
        + "\n  ]\n }"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace('"@@"', calibration_set) + "\n")
