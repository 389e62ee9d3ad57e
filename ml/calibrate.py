"""Fit a calibration for an emotion model on a labelled folder of faces and check it on held-out faces.

    python -m ml.calibrate --faces-dir /path/to/faces/test --output-dir var/calibration

The folder holds one sub-folder per emotion (`happy/*.png`, ...). It is research data without a
redistribution licence: it is read from the path given (or `MIMIK_FACES_DIR`), never copied.
Writes `calibration.json` (parameters, held-out figures, the quantifier: matrices and prior weight
for the share estimator, see emotion_math.shares),
`reliability.png` and `reliability.html` to the output folder. A calibration that makes held-out
ECE worse is refused (exit code 3, no calibration.json).

The fit is the product's (emotion_math.calibration.calibrate, as `manage.py calibrate_model` runs
it); this command adds the model file outside the registry, test-time augmentation and the
reliability diagrams. Without `--model`, the registered default model (inference/default_model.py)
is calibrated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from emotion_math import calibration
from emotion_math.report import describe_quantifier, format_figures_table, to_jsonable
from inference.classifier import EmotionClassifier, ModelSpec, predict_in_batches
from inference.default_model import DEFAULT_MODEL
from inference.labelled_faces import FacesFolderMissing, load_labelled_faces
from inference.model_files import resolve_model_file
from ml.prepare import sha256_of

FACES_DIR_VARIABLE = "MIMIK_FACES_DIR"
EXIT_REFUSED = 3
EXIT_NO_DATA = 2


def faces_folder(given: str | None) -> Path:
    """The folder from the command line, else from MIMIK_FACES_DIR; a clear error when neither exists."""
    folder = given or os.environ.get(FACES_DIR_VARIABLE)
    if not folder:
        raise FacesFolderMissing(f"No faces folder: pass --faces-dir or set {FACES_DIR_VARIABLE}.")
    path = Path(folder)
    if not path.is_dir():
        raise FacesFolderMissing(f"Faces folder {path} does not exist (from --faces-dir or {FACES_DIR_VARIABLE}).")
    return path


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


def seconds_per_face(
    classifier: EmotionClassifier, faces: list[np.ndarray], *, mirror: bool, repeats: int = 3
) -> float:
    """Best of a few timed passes, batch size 1 as a worker sees frames one at a time."""
    best = float("inf")
    for _repeat in range(repeats):
        started = time.perf_counter()
        for face in faces:
            predict_in_batches(classifier, [face], mirror=mirror)
        best = min(best, (time.perf_counter() - started) / len(faces))
    return best


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
    raw_probabilities = predict_in_batches(classifier, faces, mirror=arguments.mirror)
    test_time_augmentation = "mirror" if arguments.mirror else "none"
    print(f"{arguments.model_name} {arguments.model_version}: {len(faces)} faces from {folder}")
    try:
        result = calibration.calibrate(
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
