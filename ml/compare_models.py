"""Compare emotion models side by side, each calibrated on one labelled folder and measured on another.

    python -m ml.compare_models --calibration-dir FACES/calibration --test-dir FACES/test \
        --model default --model ml/runs/my-run [--worker-path] [--json comparison.json]

For every model (a run folder written by ml.train, or `default` for the FER2013 model) the faces
go through `inference.classifier.EmotionClassifier`, as in ml.evaluate. A calibration is fitted on
the calibration folder's faces the way `manage.py calibrate_model` fits one (method chosen by
cross-validated NLL) and applied to the test faces, which never take part in any fit. Per model:
accuracy, ECE before and after calibration, and per emotion the recall and precision of counting
a face at calibrated P >= threshold, as the dashboard counts. With two or more models that know the
same classes, the ensemble (mean of their calibrated probabilities) is measured too, before and
after a calibration of its own on the calibration folder. `--mirror` adds every model once more
with mirror test-time augmentation (the mean of a face's and its mirror image's probabilities).

Known-truth campaigns: `--campaigns N` (default 40) two-variant campaigns of 30 testers x 50
frames per variant are drawn from the test faces (A 40 % happy / 10 % sad, B 15 % / 30 %; seeds
0..N-1, the same faces for every model). The quantifier is fitted on the calibration folder's
calibrated probabilities, as a stored calibration carries it, and the product's estimator gives
each variant's shares. Per model: campaigns whose happy, sad and neutral shares all lie within
0.05 of the truth in both variants, the median and largest of those worst errors, and in how many
the direction of the A - B difference in happy and in sad is right, by estimated shares and by
thresholded ratios.

`--worker-path` first takes every face the workers' way (inference.worker_faces: a webcam-like
JPEG, the detector, the quality gates, the crop; it needs the Django settings), once, so all
models see the same crops. Also reports CPU time per face of each classifier, one face at a time.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emotion_math import calibration
from emotion_math.counting import threshold_figures
from emotion_math.report import to_jsonable
from emotion_math.shares import fit_quantifier
from inference.classifier import EmotionClassifier, ModelSpec, predict_in_batches
from inference.labelled_faces import load_labelled_faces
from ml import quantification
from ml.calibrate import seconds_per_face
from ml.evaluate import canonical_class, default_model_spec, load_run_spec
from ml.real_faces_report import FOCUS_CLASSES, TARGET_ERROR, VARIANT_SHARES

TIMING_FACES = 200
CAMPAIGNS = 40
MIRROR_SUFFIX = " + mirror"


def load_spec(model: str) -> ModelSpec:
    return default_model_spec() if model == "default" else load_run_spec(Path(model))


def calibrated_figures(
    raw: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    class_names: Sequence[str],
    threshold: float,
    campaigns: int,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Calibrate on the calibration faces, measure on the test faces (known-truth campaigns
    included); also return both sets calibrated."""
    parameters = calibration.fit_calibration(raw["calibration"], labels["calibration"], class_names=class_names)
    calibrated = {name: calibration.apply_calibration(values, parameters) for name, values in raw.items()}
    test_labels = labels["test"]
    measured = {
        "accuracy": calibration.accuracy(raw["test"], test_labels),
        "accuracy_calibrated": calibration.accuracy(calibrated["test"], test_labels),
        "ece_before": calibration.expected_calibration_error(raw["test"], test_labels),
        "ece_after": calibration.expected_calibration_error(calibrated["test"], test_labels),
        "calibration_method": parameters["method"],
        "per_emotion": threshold_figures(calibrated["test"], test_labels, class_names, threshold),
        "known_truth": known_truth_campaigns(calibrated, labels, class_names, campaigns=campaigns, threshold=threshold),
    }
    return measured, calibrated


def known_truth_campaigns(
    calibrated: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    class_names: Sequence[str],
    *,
    campaigns: int,
    threshold: float,
) -> dict[str, Any]:
    """Simulated campaigns from the test faces, measured with the product's estimator; the
    quantifier comes from the calibration faces only."""
    quantifier = fit_quantifier(calibrated["calibration"], labels["calibration"], class_names)
    shares = {variant: [mix.get(name, 0.0) for name in class_names] for variant, mix in VARIANT_SHARES.items()}
    focus = [class_names.index(name) for name in FOCUS_CLASSES if name in class_names]
    directed = [class_names.index(name) for name in ("happy", "sad") if name in class_names]
    worst_errors, estimated_right, thresholded_right = [], 0, 0
    for seed in range(campaigns):
        campaign = quantification.simulate_paired_campaign(labels["test"], shares, seed=seed)
        estimates, ratios, truths = [], [], []
        for frames in campaign.values():
            probabilities = calibrated["test"][frames["face_indices"]]
            estimates.append(quantification.estimate_shares(probabilities, quantifier))
            ratios.append(quantification.threshold_ratio(probabilities, threshold))
            truths.append(frames["true_shares"])
        errors = np.abs(np.asarray(estimates) - np.asarray(truths))[:, focus]
        worst_errors.append(float(errors.max()))
        true_sign = np.sign(truths[0] - truths[1])[directed]
        estimated_right += bool(np.all(np.sign(estimates[0] - estimates[1])[directed] == true_sign))
        thresholded_right += bool(np.all(np.sign(ratios[0] - ratios[1])[directed] == true_sign))
    worst = np.asarray(worst_errors)
    return {
        "campaigns": campaigns,
        "focus_classes": [class_names[index] for index in focus],
        "within_target": int(np.sum(worst <= TARGET_ERROR)),
        "worst_error_median": float(np.median(worst)),
        "worst_error_max": float(worst.max()),
        "direction_right_estimated": estimated_right,
        "direction_right_thresholded": thresholded_right,
    }


def compare(
    models: Sequence[str],
    calibration_dir: Path,
    test_dir: Path,
    *,
    threshold: float = 0.8,
    worker_path: bool = False,
    mirror: bool = False,
    campaigns: int = CAMPAIGNS,
    timing_faces: int = TIMING_FACES,
) -> dict[str, Any]:
    """Figures per model (and for their ensemble), every model's probabilities in the first model's class order."""
    specs = [load_spec(model) for model in models]
    class_names = [canonical_class(name) for name in specs[0].class_names]
    faces = {}
    for name, folder in (("calibration", calibration_dir), ("test", test_dir)):
        images, labels = load_labelled_faces(folder, class_names)
        if worker_path:
            from inference.worker_faces import worker_faces

            # The largest input any model takes: the crop gate then lets the same faces through for all.
            taken = worker_faces(images, labels, input_size=max(spec.input_size for spec in specs))
            images, labels = taken.crops, taken.labels
            faces[f"{name}_dropped"] = taken.dropped
        faces[name] = (images, labels)
    result: dict[str, Any] = {
        "class_names": class_names,
        "threshold": threshold,
        "worker_path": worker_path,
        "faces": {name: len(faces[name][1]) for name in ("calibration", "test")},
        "dropped": {name: faces.get(f"{name}_dropped", {}) for name in ("calibration", "test")},
        "target_error": TARGET_ERROR,
        "models": {},
    }
    labels = {name: faces[name][1] for name in ("calibration", "test")}
    calibrated_sets = []
    for model, spec in zip(models, specs, strict=True):
        own = [canonical_class(name) for name in spec.class_names]
        if sorted(own) != sorted(class_names):
            raise SystemExit(f"{model} knows {own}; {models[0]} knows {class_names}: not comparable.")
        order = [own.index(name) for name in class_names]
        classifier = EmotionClassifier(spec)
        for with_mirror in (False, True) if mirror else (False,):
            raw = {
                name: predict_in_batches(classifier, faces[name][0], mirror=with_mirror)[:, order] for name in labels
            }
            measured, calibrated = calibrated_figures(raw, labels, class_names, threshold, campaigns)
            measured["cpu_ms_per_face"] = 1000 * seconds_per_face(
                classifier, faces["test"][0][:timing_faces], mirror=with_mirror
            )
            if not with_mirror:
                calibrated_sets.append(calibrated)
            result["models"][model + (MIRROR_SUFFIX if with_mirror else "")] = measured
    if len(models) > 1:
        mean = {name: np.mean([sets[name] for sets in calibrated_sets], axis=0) for name in labels}
        measured, _calibrated = calibrated_figures(mean, labels, class_names, threshold, campaigns)
        measured["cpu_ms_per_face"] = sum(result["models"][model]["cpu_ms_per_face"] for model in models)
        result["models"]["ensemble"] = measured
    return result


def format_comparison(result: dict[str, Any]) -> str:
    names = list(result["models"])
    lines = [
        f"Test faces {result['faces']['test']}, calibration faces {result['faces']['calibration']}"
        + (" (workers' path)" if result["worker_path"] else " (crops, as ml.evaluate)"),
        "| figure | " + " | ".join(names) + " |",
        "| --- |" + " ---: |" * len(names),
    ]
    rows = [
        ("accuracy", "accuracy", "{:.3f}"),
        ("ECE before calibration", "ece_before", "{:.3f}"),
        ("ECE after calibration", "ece_after", "{:.3f}"),
        ("calibration method", "calibration_method", "{}"),
        ("CPU ms per face", "cpu_ms_per_face", "{:.2f}"),
    ]
    for label, key, pattern in rows:
        lines.append(f"| {label} | " + " | ".join(pattern.format(result["models"][n][key]) for n in names) + " |")
    threshold = result["threshold"]
    for emotion in result["class_names"]:
        cells = []
        for name in names:
            row = result["models"][name]["per_emotion"][emotion]
            recall, precision = ("–" if row[key] is None else f"{row[key]:.2f}" for key in ("recall", "precision"))
            cells.append(f"{recall} / {precision} ({row['counted']})")
        lines.append(f"| {emotion}: recall / precision at P ≥ {threshold} (counted) | " + " | ".join(cells) + " |")
    known = [result["models"][name]["known_truth"] for name in names]
    campaigns, focus = known[0]["campaigns"], ", ".join(known[0]["focus_classes"])
    known_rows = [
        (f"campaigns with {focus} within {result['target_error']}", lambda k: f"{k['within_target']} / {campaigns}"),
        ("median worst share error", lambda k: f"{k['worst_error_median']:.3f}"),
        ("largest worst share error", lambda k: f"{k['worst_error_max']:.3f}"),
        ("A - B direction right, estimated shares", lambda k: f"{k['direction_right_estimated']} / {campaigns}"),
        ("A - B direction right, thresholded ratios", lambda k: f"{k['direction_right_thresholded']} / {campaigns}"),
    ]
    for label, cell in known_rows:
        lines.append(f"| known-truth: {label} | " + " | ".join(cell(k) for k in known) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", dest="models", action="append", required=True, help="run folder or 'default'")
    parser.add_argument("--calibration-dir", type=Path, required=True, help="labelled faces the calibration fits")
    parser.add_argument("--test-dir", type=Path, required=True, help="labelled faces the figures come from")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--worker-path", action="store_true", help="crop every face the workers' way first")
    parser.add_argument("--mirror", action="store_true", help="measure every model with mirror averaging too")
    parser.add_argument("--campaigns", type=int, default=CAMPAIGNS, help="known-truth campaigns per model")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    arguments = parser.parse_args(argv)
    if arguments.worker_path:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
    result = compare(
        arguments.models,
        arguments.calibration_dir,
        arguments.test_dir,
        threshold=arguments.threshold,
        worker_path=arguments.worker_path,
        mirror=arguments.mirror,
        campaigns=arguments.campaigns,
    )
    print(format_comparison(result))
    if arguments.json:
        arguments.json.write_text(json.dumps(to_jsonable(result), indent=2))


if __name__ == "__main__":
    main()
