"""Fit a calibration for an emotion model on a labelled folder of faces and check it on held-out faces.

    python -m ml.calibrate --faces-dir /path/to/faces/test --output-dir var/calibration

The folder holds one sub-folder per emotion (`happy/*.png`, ...). It is research data without a
redistribution licence: it is read from the path given (or `MIMIK_FACES_DIR`), never copied.
Writes `calibration.json` (parameters, held-out figures, the quantifier: matrices and prior weight
for the share estimator, see ml.quantification),
`reliability.png` and `reliability.html` to the output folder. A calibration that makes held-out
ECE worse is refused (exit code 3, no calibration.json).

Without `--model`, the registered default model (inference/default_model.py) is calibrated.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from inference.classifier import EmotionClassifier, ModelSpec
from inference.default_model import DEFAULT_MODEL
from ml import calibration, quantification
from ml.prepare import sha256_of

FACES_DIR_VARIABLE = "MIMIK_FACES_DIR"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
BATCH_SIZE = 64
EXIT_REFUSED = 3
EXIT_NO_DATA = 2


class FacesFolderMissing(FileNotFoundError):
    pass


def resolve_model_file(file_path: str) -> Path:
    """Same rule as inference.selectors.resolve_model_path, without needing Django set up."""
    if file_path.startswith("dist:"):
        _prefix, distribution, inner = file_path.split(":", 2)
        return Path(str(importlib.metadata.distribution(distribution).locate_file(inner)))
    return Path(file_path)


def faces_folder(given: str | None) -> Path:
    """The folder from the command line, else from MIMIK_FACES_DIR; a clear error when neither exists."""
    folder = given or os.environ.get(FACES_DIR_VARIABLE)
    if not folder:
        raise FacesFolderMissing(f"No faces folder: pass --faces-dir or set {FACES_DIR_VARIABLE}.")
    path = Path(folder)
    if not path.is_dir():
        raise FacesFolderMissing(f"Faces folder {path} does not exist (from --faces-dir or {FACES_DIR_VARIABLE}).")
    return path


def load_labelled_faces(folder: Path, class_names: Sequence[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """`folder/<class name>/*.png` -> (uint8 crops, label indices in class_names order).
    Grey images stay grey and colour images stay RGB, as the workers hand crops to the model: an
    RGB model calibrated on greyed faces would be calibrated for pixels it never sees. Classes
    without a sub-folder get no faces; sub-folders that are not classes are ignored."""
    faces: list[np.ndarray] = []
    labels: list[int] = []
    for class_index, name in enumerate(class_names):
        class_folder = folder / name
        if not class_folder.is_dir():
            continue
        for image_path in sorted(class_folder.iterdir()):
            if image_path.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(image_path) as image:
                    faces.append(np.asarray(image if image.mode == "L" else image.convert("RGB")))
                labels.append(class_index)
    if not faces:
        raise FacesFolderMissing(f"No labelled faces under {folder} (expected sub-folders named {list(class_names)}).")
    return faces, np.asarray(labels)


def model_spec(arguments: argparse.Namespace) -> ModelSpec:
    return ModelSpec(
        file_path=resolve_model_file(arguments.model),
        framework=arguments.framework,
        class_names=tuple(arguments.class_names.split(",")),
        input_size=arguments.input_size,
        color_mode=arguments.color_mode,
        scaling=arguments.scaling,
        outputs_logits=arguments.outputs_logits,
    )


def predict(classifier: EmotionClassifier, faces: list[np.ndarray], *, mirror: bool = False) -> np.ndarray:
    """Probabilities per face; with `mirror`, the mean of the face's and its mirror image's."""
    batches = []
    for start in range(0, len(faces), BATCH_SIZE):
        batch = faces[start : start + BATCH_SIZE]
        probabilities = classifier.predict_faces(batch)
        if mirror:
            mirrored = [np.ascontiguousarray(face[:, ::-1]) for face in batch]
            probabilities = (probabilities + classifier.predict_faces(mirrored)) / 2
        batches.append(probabilities)
    return np.concatenate(batches).astype(np.float64)


def seconds_per_face(
    classifier: EmotionClassifier, faces: list[np.ndarray], *, mirror: bool, repeats: int = 3
) -> float:
    """Best of a few timed passes, batch size 1 as a worker sees frames one at a time."""
    best = float("inf")
    for _repeat in range(repeats):
        started = time.perf_counter()
        for face in faces:
            predict(classifier, [face], mirror=mirror)
        best = min(best, (time.perf_counter() - started) / len(faces))
    return best


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


def write_reliability_diagrams(
    diagrams: dict[str, dict], eces: dict[str, float], output_dir: Path, title: str
) -> tuple[Path, Path]:
    """One panel per probability set (e.g. raw, calibrated): accuracy per confidence bin vs the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    output_dir.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(1, len(diagrams), figsize=(5 * len(diagrams), 5), squeeze=False)
    interactive = make_subplots(
        rows=1, cols=len(diagrams), subplot_titles=[f"{n} (ECE {eces[n]:.3f})" for n in diagrams]
    )
    for column, (name, diagram) in enumerate(diagrams.items()):
        edges = np.asarray(diagram["bin_edges"])
        centres = (edges[:-1] + edges[1:]) / 2
        width = edges[1] - edges[0]
        accuracies = np.nan_to_num(np.asarray(diagram["accuracies"], dtype=float))
        confidences = np.nan_to_num(np.asarray(diagram["mean_confidences"], dtype=float))
        axis = axes[0][column]
        axis.bar(centres, accuracies, width=width * 0.9, color="#4c72b0", label="accuracy")
        filled = np.asarray(diagram["counts"]) > 0
        axis.plot(centres[filled], confidences[filled], "o", color="#c44e52", label="mean confidence")
        axis.plot([0, 1], [0, 1], "k--", linewidth=1)
        axis.set(
            xlim=(0, 1),
            ylim=(0, 1),
            xlabel="top-class probability",
            ylabel="accuracy",
            title=f"{name} (ECE {eces[name]:.3f})",
        )
        axis.legend(loc="upper left")
        hover = [
            f"faces: {count}<br>confidence: {confidence:.3f}<br>accuracy: {bin_accuracy:.3f}"
            for count, confidence, bin_accuracy in zip(diagram["counts"], confidences, accuracies, strict=True)
        ]
        interactive.add_trace(
            go.Bar(
                x=centres, y=accuracies, width=width * 0.9, name=f"{name} accuracy", hovertext=hover, hoverinfo="text"
            ),
            row=1,
            col=column + 1,
        )
        interactive.add_trace(
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": "black"}, showlegend=False),
            row=1,
            col=column + 1,
        )
    figure.suptitle(title)
    figure.tight_layout()
    png_path = output_dir / "reliability.png"
    figure.savefig(png_path, dpi=100)
    plt.close(figure)
    interactive.update_layout(title=title, xaxis_range=[0, 1], yaxis_range=[0, 1])
    html_path = output_dir / "reliability.html"
    # Embedded plotly.js: the file opens offline, as the dashboard serves plotly.js from the wheel too.
    interactive.write_html(html_path, include_plotlyjs=True)
    return png_path, html_path


def evaluation_figures(
    probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str], threshold: float
) -> dict[str, Any]:
    return {
        "accuracy": calibration.accuracy(probabilities, labels),
        "ece": calibration.expected_calibration_error(probabilities, labels),
        "negative_log_likelihood": calibration.negative_log_likelihood(probabilities, labels),
        "threshold": threshold,
        "per_emotion": calibration.threshold_figures(probabilities, labels, class_names, threshold),
    }


def calibrate(
    raw_probabilities: np.ndarray,
    labels: np.ndarray,
    *,
    class_names: Sequence[str],
    held_out_fraction: float = 0.5,
    seed: int = 0,
    methods: Sequence[str] = calibration.CALIBRATION_METHODS,
    threshold: float = 0.8,
    test_time_augmentation: str = "none",
) -> dict[str, Any]:
    """Fit on one half, check on the other (raises CalibrationRefused), measure the quantifier.

    Returns the JSON-able result: `parameters` (what apply_calibration needs), `held_out` figures
    before/after, and `quantifier` (misclassification matrices of calibrated probabilities on all
    the labelled faces, for the adjusted share estimators)."""
    fit_indices, held_out_indices = stratified_halves(labels, held_out_fraction, seed)
    parameters = calibration.fit_calibration(
        raw_probabilities[fit_indices],
        labels[fit_indices],
        class_names=class_names,
        methods=methods,
        seed=seed,
        test_time_augmentation=test_time_augmentation,
    )
    check = calibration.check_calibration(raw_probabilities[held_out_indices], labels[held_out_indices], parameters)
    calibrated = calibration.apply_calibration(raw_probabilities, parameters)
    return {
        "parameters": parameters,
        "check": check,
        "split": {"seed": seed, "fit_faces": len(fit_indices), "held_out_faces": len(held_out_indices)},
        "held_out": {
            "before": evaluation_figures(
                raw_probabilities[held_out_indices], labels[held_out_indices], class_names, threshold
            ),
            "after": evaluation_figures(calibrated[held_out_indices], labels[held_out_indices], class_names, threshold),
            "reliability_before": calibration.reliability_diagram_data(
                raw_probabilities[held_out_indices], labels[held_out_indices]
            ),
            "reliability_after": calibration.reliability_diagram_data(
                calibrated[held_out_indices], labels[held_out_indices]
            ),
        },
        "quantifier": quantification.fit_quantifier(calibrated, labels, class_names),
    }


def format_figures_table(before: dict[str, Any], after: dict[str, Any]) -> str:
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
        f"share estimator {quantification.DEFAULT_ESTIMATOR} ({quantification.DEFAULT_GROUPING}): "
        f"confusion matrix from {quantifier['faces']} labelled faces, prior weight {quantifier['regularisation']:.4g}"
    )


def to_jsonable(value: Any) -> Any:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces-dir", help=f"labelled folder (<emotion>/*.png); default ${FACES_DIR_VARIABLE}")
    parser.add_argument("--output-dir", default="var/calibration", type=Path)
    parser.add_argument("--model", default=DEFAULT_MODEL["file_path"], help="'dist:<package>:<path>' or a file path")
    parser.add_argument("--model-name", default=DEFAULT_MODEL["name"])
    parser.add_argument("--model-version", default=DEFAULT_MODEL["version"])
    parser.add_argument("--framework", default=DEFAULT_MODEL["framework"], choices=["tflite", "keras"])
    parser.add_argument("--class-names", default=",".join(DEFAULT_MODEL["class_names"]))
    parser.add_argument("--input-size", default=DEFAULT_MODEL["input_size"], type=int)
    parser.add_argument("--color-mode", default=DEFAULT_MODEL["color_mode"], choices=["grayscale", "rgb"])
    parser.add_argument("--scaling", default=DEFAULT_MODEL["scaling"])
    parser.add_argument("--outputs-logits", action="store_true", default=DEFAULT_MODEL["outputs_logits"])
    parser.add_argument(
        "--methods",
        default=",".join(calibration.CALIBRATION_METHODS),
        help="candidates, chosen by validation NLL; 'temperature' alone for the simplest",
    )
    parser.add_argument("--mirror", action="store_true", help="test-time augmentation: average face and mirror")
    parser.add_argument("--held-out-fraction", default=0.5, type=float)
    parser.add_argument("--threshold", default=0.8, type=float)
    parser.add_argument("--seed", default=0, type=int)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    spec = model_spec(arguments)
    try:
        folder = faces_folder(arguments.faces_dir)
        faces, labels = load_labelled_faces(folder, spec.class_names)
    except FacesFolderMissing as error:
        print(error, file=sys.stderr)
        return EXIT_NO_DATA
    classifier = EmotionClassifier(spec)
    raw_probabilities = predict(classifier, faces, mirror=arguments.mirror)
    test_time_augmentation = "mirror" if arguments.mirror else "none"
    print(f"{arguments.model_name} {arguments.model_version}: {len(faces)} faces from {folder}")
    try:
        result = calibrate(
            raw_probabilities,
            labels,
            class_names=spec.class_names,
            held_out_fraction=arguments.held_out_fraction,
            seed=arguments.seed,
            methods=arguments.methods.split(","),
            threshold=arguments.threshold,
            test_time_augmentation=test_time_augmentation,
        )
    except calibration.CalibrationRefused as error:
        print(f"REFUSED: {error}", file=sys.stderr)
        return EXIT_REFUSED
    held_out = result["held_out"]
    parameters = result["parameters"]
    print(
        f"method {parameters['method']} (validation NLL {parameters['validation_negative_log_likelihood']}), "
        f"version {parameters['version']}; held-out figures on {result['split']['held_out_faces']} faces:"
    )
    print(format_figures_table(held_out["before"], held_out["after"]))
    print(describe_quantifier(result["quantifier"]))
    png_path, html_path = write_reliability_diagrams(
        {"raw": held_out["reliability_before"], "calibrated": held_out["reliability_after"]},
        {"raw": held_out["before"]["ece"], "calibrated": held_out["after"]["ece"]},
        arguments.output_dir,
        f"{arguments.model_name} {arguments.model_version}, held-out faces",
    )
    model_file = spec.file_path
    document = {
        "model": {
            "name": arguments.model_name,
            "version": arguments.model_version,
            "file_path": arguments.model,
            "sha256": sha256_of(model_file),
        },
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "faces": len(faces),
        **result,
    }
    json_path = arguments.output_dir / "calibration.json"
    json_path.write_text(json.dumps(to_jsonable(document), indent=2))
    print(f"wrote {json_path}, {png_path}, {html_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
