"""manage.py calibrate_model: fit a calibration for a registered model on labelled faces and store it,
or write the default model's shipped calibration (inference/data/default_model_calibration.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ApplicationError
from emotion_math import calibration as calibration_math
from emotion_math.report import describe_quantifier, format_figures_table, to_jsonable
from emotion_math.shares import fit_quantifier
from inference.calibrations import calibration_create
from inference.labelled_faces import FacesFolderMissing, faces_digest, load_labelled_faces
from inference.models import ModelVersion

# Same exit codes as `python -m ml.calibrate`.
EXIT_NO_DATA = 2
EXIT_REFUSED = 3

WRITE_DATA_FILE_EXAMPLE = (
    "python manage.py calibrate_model --write-data-file --faces-dir ../shared/data/faces/calibration "
    "--dataset FER2013 --split PublicTest"
)


def raw_probabilities_for(model_version: ModelVersion, faces_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Run the registered model on every labelled face: (raw probabilities, labels). Preprocessing
    is the workers' own (inference.pipeline.spec_for), so the calibration fits what they output."""
    from inference.classifier import EmotionClassifier, predict_in_batches
    from inference.pipeline import spec_for

    faces, labels = load_labelled_faces(faces_dir, list(model_version.class_names))
    return predict_in_batches(EmotionClassifier(spec_for(model_version)), faces), labels


def worker_path_probabilities_for(
    model_version: ModelVersion, faces_dir: Path, *, seed: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """As raw_probabilities_for, but each face first takes the workers' path (inference.worker_faces:
    a webcam-like JPEG, the detector, the quality gates, the crop). Returns what went through:
    (raw probabilities, labels, {"faces_given", "dropped": {outcome: faces}})."""
    from inference.classifier import EmotionClassifier, predict_in_batches
    from inference.pipeline import spec_for
    from inference.worker_faces import worker_faces

    faces, labels = load_labelled_faces(faces_dir, list(model_version.class_names))
    taken = worker_faces(faces, labels, input_size=model_version.input_size, seed=seed)
    probabilities = predict_in_batches(EmotionClassifier(spec_for(model_version)), taken.crops)
    return probabilities, taken.labels, {"faces_given": taken.given, "dropped": taken.dropped}


class Command(BaseCommand):
    help = (
        "Fit a calibration for a registered model version on a labelled folder (<emotion>/*.png), check it "
        "on held-out faces, store it with the model version and recompute its predictions. A calibration "
        "that makes held-out ECE worse is refused and nothing is stored. It replaces the model version's "
        "active calibration, the shipped one included. "
        "With --write-data-file it stores nothing: it fits the default model's shipped calibration on the "
        "workers' path (each face in a webcam-like frame, the detector, gates and crop) over all the faces "
        "and writes inference/data/default_model_calibration.json, which fresh installations activate. "
        f"The shipped file is reproduced with: {WRITE_DATA_FILE_EXAMPLE}"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model-version", dest="model_version_id", type=int, help="ModelVersion id")
        parser.add_argument("--faces-dir", required=True, type=Path)
        parser.add_argument("--methods", default=",".join(calibration_math.CALIBRATION_METHODS))
        parser.add_argument("--held-out-fraction", type=float, default=0.5)
        parser.add_argument("--threshold", type=float, default=0.8, help="for the printed figures only")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--no-activate", action="store_true", help="store it without making it active")
        parser.add_argument(
            "--webcam-frames",
            action="store_true",
            help="take each face the workers' way first (tight crops such as FER2013's 48x48 faces): "
            "enlarged into a 640x480 webcam-like JPEG, then the detector, quality gates and crop; faces "
            "the gates refuse are left out",
        )
        parser.add_argument(
            "--source", help="which faces these are, as the dashboard names them (default: the folder's path)"
        )
        parser.add_argument(
            "--write-data-file",
            nargs="?",
            const=True,
            default=None,
            metavar="PATH",
            help="write the default model's shipped calibration to PATH (default "
            "inference/data/default_model_calibration.json) instead of storing one; implies --webcam-frames "
            "and needs --dataset and --split",
        )
        parser.add_argument("--dataset", help="with --write-data-file: the faces' data set, e.g. FER2013")
        parser.add_argument("--split", help="with --write-data-file: which part of it, e.g. PublicTest")

    def handle(self, *args, **options) -> None:
        if options["write_data_file"] is not None:
            self.write_data_file(options)
            return
        if options["model_version_id"] is None:
            raise CommandError("Name the model version to calibrate: --model-version ID.")
        model_version = ModelVersion.objects.filter(pk=options["model_version_id"]).first()
        if model_version is None:
            raise CommandError(f"No registered model version with id {options['model_version_id']}.")
        try:
            if options["webcam_frames"]:
                raw_probabilities, labels, taken = worker_path_probabilities_for(
                    model_version, options["faces_dir"], seed=options["seed"]
                )
                self.stdout.write(self.describe_worker_path(taken, len(labels)))
            else:
                raw_probabilities, labels = raw_probabilities_for(model_version, options["faces_dir"])
        except FacesFolderMissing as error:
            raise CommandError(str(error), returncode=EXIT_NO_DATA) from error
        try:
            result = calibration_math.calibrate(
                raw_probabilities,
                labels,
                class_names=list(model_version.class_names),
                held_out_fraction=options["held_out_fraction"],
                seed=options["seed"],
                methods=options["methods"].split(","),
                threshold=options["threshold"],
            )
        except calibration_math.CalibrationRefused as error:
            raise CommandError(f"Refused, nothing stored: {error}", returncode=EXIT_REFUSED) from error
        try:
            stored = calibration_create(
                model_version=model_version,
                result=to_jsonable(result),
                raw_probabilities=raw_probabilities,
                labels=labels,
                source=options["source"] or str(options["faces_dir"]),
                activate=not options["no_activate"],
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(format_figures_table(result["held_out"]["before"], result["held_out"]["after"]))
        self.stdout.write(describe_quantifier(result["quantifier"]))
        state = "active; predictions are being recomputed" if stored.is_active else "stored, not active"
        self.stdout.write(
            self.style.SUCCESS(
                f"Calibration {stored.version} ({stored.method}) for {model_version} on {stored.faces} faces: {state}."
            )
        )

    @staticmethod
    def describe_worker_path(taken: dict[str, Any], kept: int) -> str:
        dropped = ", ".join(f"{outcome} {count}" for outcome, count in taken["dropped"].items()) or "none"
        return f"{kept} of {taken['faces_given']} faces went through the workers' path (left out: {dropped})."

    def write_data_file(self, options: dict[str, Any]) -> None:
        """Fit on all the faces (the held-out figures come from a fit on one part, checked on the
        rest) and write the data file. Only the default model: it is what fresh installations serve."""
        from inference.default_calibration import (
            DEFAULT_CALIBRATION_FILE,
            model_file_sha256,
            shipped_calibration_document,
            write_default_calibration,
        )
        from inference.default_model import DEFAULT_MODEL
        from inference.quality import Thresholds

        if not options["dataset"] or not options["split"]:
            raise CommandError(f"--write-data-file needs --dataset and --split, e.g. {WRITE_DATA_FILE_EXAMPLE}")
        if options["model_version_id"] is not None:
            raise CommandError("--write-data-file fits the default model; leave out --model-version.")
        path = DEFAULT_CALIBRATION_FILE if options["write_data_file"] is True else Path(options["write_data_file"])
        model_version = ModelVersion(**DEFAULT_MODEL)  # never saved: the file describes the model, not a row
        class_names = list(model_version.class_names)
        methods = options["methods"].split(",")
        seed = options["seed"]
        try:
            raw_probabilities, labels, taken = worker_path_probabilities_for(
                model_version, options["faces_dir"], seed=seed
            )
        except FacesFolderMissing as error:
            raise CommandError(str(error), returncode=EXIT_NO_DATA) from error
        self.stdout.write(self.describe_worker_path(taken, len(labels)))
        try:
            check = calibration_math.calibrate(
                raw_probabilities,
                labels,
                class_names=class_names,
                held_out_fraction=options["held_out_fraction"],
                seed=seed,
                methods=methods,
                threshold=options["threshold"],
            )
        except calibration_math.CalibrationRefused as error:
            raise CommandError(f"Refused, nothing written: {error}", returncode=EXIT_REFUSED) from error
        parameters = calibration_math.fit_calibration(
            raw_probabilities, labels, class_names=class_names, methods=methods, seed=seed
        )
        calibrated = calibration_math.apply_calibration(raw_probabilities, parameters)
        document = shipped_calibration_document(
            model={
                "name": model_version.name,
                "version": model_version.version,
                "file_path": model_version.file_path,
                "class_names": class_names,
                "sha256": model_file_sha256(model_version.file_path),
            },
            fitted_on={
                "dataset": options["dataset"],
                "split": options["split"],
                "faces_given": taken["faces_given"],
                "faces": len(labels),
                "faces_per_class": dict(
                    zip(class_names, np.bincount(labels, minlength=len(class_names)).tolist(), strict=True)
                ),
                "left_out_by_the_workers_path": taken["dropped"],
                "faces_sha256": faces_digest(options["faces_dir"], class_names),
                "path": "workers' path: each face in a 640x480 webcam-like JPEG (inference.worker_faces), "
                "BlazeFace, quality gates, crop, the model; seeded",
                "seed": seed,
                "gate_thresholds": vars(Thresholds.from_settings()),
                "method": parameters["method"],
            },
            parameters=to_jsonable(parameters),
            quantifier=to_jsonable(fit_quantifier(calibrated, labels, class_names)),
            held_out={
                "what": "fitted on one part of the faces, measured on the rest; the shipped parameters are "
                "fitted on all of them",
                "method": check["parameters"]["method"],
                "check": to_jsonable(check["check"]),
                "split": to_jsonable(check["split"]),
            },
            raw_probabilities=raw_probabilities,
            labels=labels,
            command=WRITE_DATA_FILE_EXAMPLE,
        )
        write_default_calibration(document, path)
        self.stdout.write(format_figures_table(check["held_out"]["before"], check["held_out"]["after"]))
        self.stdout.write(describe_quantifier(document["quantifier"]))
        self.stdout.write(
            self.style.SUCCESS(
                f"Shipped calibration {parameters['version']} ({parameters['method']}) for {model_version} on "
                f"{len(labels)} faces of {options['dataset']} {options['split']}: wrote {path}."
            )
        )
