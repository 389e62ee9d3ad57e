"""How far the generated known-truth test's figures spread from one campaign to the next: the
evidence behind the tolerances in tests/test_known_truth.py.

    python -m tests.known_truth.cue_spread [--campaigns 16] [--testers 8] [--frames-per-variant 16]

The test's generator, model and sizes, but in one process and many times: frames go through the
workers' own decode, detector, gates and crop (inference.pipeline.inspect_image) and classifier,
the calibration is what `calibrate_model` fits (emotion_math.calibration.calibrate), and the
estimate is the dashboard's (emotion_math.shares.estimate_shares on the mean of per-tester mean
calibrated probabilities). One calibration (the test's seed), `--campaigns` campaign draws. Prints, per
emotion, the estimate's error (mean, standard deviation, largest) and the thresholded ratio's gap
to the true share, as JSON.

Needs Django settings (the gate thresholds), scikit-image and TensorFlow (Keras).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

THRESHOLD = 0.8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.known_truth.cue_spread", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--campaigns", type=int, default=16)
    parser.add_argument("--testers", type=int, default=8)
    parser.add_argument("--frames-per-variant", type=int, default=16)
    parser.add_argument("--calibration-faces-per-class", type=int, default=32)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    with tempfile.TemporaryDirectory(prefix="mimik-cue-spread-") as folder:
        result = spread(args, Path(folder))
    print(json.dumps(result, indent=2))
    return 0


def spread(args: argparse.Namespace, folder: Path) -> dict:
    from emotion_math import calibration, shares
    from emotion_math.calibration import calibrate
    from inference.classifier import EmotionClassifier, ModelSpec, predict_in_batches
    from inference.labelled_faces import load_labelled_faces
    from ml import quantification
    from tests.known_truth.campaign import plan_frames
    from tests.known_truth.frames import worker_crop
    from tests.support import cue_model

    class_names = list(cue_model.CLASS_NAMES)
    spec = ModelSpec(
        cue_model.build_cue_model(folder / "cue.keras"),
        "keras",
        cue_model.CLASS_NAMES,
        cue_model.INPUT_SIZE,
        "grayscale",
        "none",
    )
    classifier = EmotionClassifier(spec)
    cue_model.write_labelled_crops(folder / "labelled", per_class=args.calibration_faces_per_class, seed=1)
    faces, labels = load_labelled_faces(folder / "labelled", class_names)
    raw = predict_in_batches(classifier, faces)
    parameters = calibrate(raw, labels, class_names=class_names)["parameters"]
    calibrated_faces = calibration.apply_calibration(raw, parameters)
    quantifier = shares.fit_quantifier(calibrated_faces, labels, class_names)
    errors: dict[str, list[float]] = {name: [] for name in class_names}
    ratio_gaps: dict[str, dict[str, list[float]]] = {
        key: {name: [] for name in class_names} for key in cue_model.VARIANT_SHARES
    }
    for seed in range(args.campaigns):
        plan = plan_frames(
            cue_model.VARIANT_SHARES, testers=args.testers, frames_per_variant=args.frames_per_variant, seed=100 + seed
        )
        random = np.random.default_rng([seed, 9])
        kept, crops = [], []
        for frame in plan:
            _outcome, crop = worker_crop(cue_model.cue_jpeg(frame.label, random), input_size=cue_model.INPUT_SIZE)
            if crop is not None:
                kept.append(frame)
                crops.append(crop)
        probabilities = calibration.apply_calibration(predict_in_batches(classifier, crops), parameters)
        for key in cue_model.VARIANT_SHARES:
            means, truths = [], []
            for tester in range(args.testers):
                rows = [i for i, frame in enumerate(kept) if frame.tester == tester and frame.variant == key]
                means.append(probabilities[rows].mean(axis=0))
                truths.append([np.mean([kept[i].label == name for i in rows]) for name in class_names])
            estimate = shares.estimate_shares(np.mean(means, axis=0, keepdims=True), quantifier)
            truth = np.mean(truths, axis=0)
            rows = [i for i, frame in enumerate(kept) if frame.variant == key]
            ratio = quantification.threshold_ratio(probabilities[rows], THRESHOLD)
            for index, name in enumerate(class_names):
                errors[name].append(float(estimate[index] - truth[index]))
                ratio_gaps[key][name].append(float(ratio[index] - truth[index]))
    return {
        "setup": vars(args) | {"calibration_method": parameters["method"]},
        "estimate_error": {
            name: {
                "mean": round(float(np.mean(values)), 4),
                "sd": round(float(np.std(values)), 4),
                "largest": round(float(np.max(np.abs(values))), 4),
            }
            for name, values in errors.items()
        },
        "threshold_ratio_minus_truth": {
            key: {name: [round(min(values), 3), round(max(values), 3)] for name, values in gaps.items()}
            for key, gaps in ratio_gaps.items()
        },
    }


if __name__ == "__main__":
    sys.exit(main())
