"""manage.py calibrate_model: fit a calibration for a registered model on labelled faces and store it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ApplicationError
from inference.calibrations import calibration_create
from inference.models import ModelVersion
from ml import calibration as calibration_math

# Same exit codes as `python -m ml.calibrate`.
EXIT_NO_DATA = 2
EXIT_REFUSED = 3


def raw_probabilities_for(model_version: ModelVersion, faces_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Run the registered model on every labelled face: (raw probabilities, labels). Preprocessing
    is the workers' own (inference.pipeline.spec_for), so the calibration fits what they output."""
    from inference.classifier import EmotionClassifier
    from inference.pipeline import spec_for
    from ml.calibrate import load_labelled_faces, predict

    faces, labels = load_labelled_faces(faces_dir, list(model_version.class_names))
    return predict(EmotionClassifier(spec_for(model_version)), faces), labels


class Command(BaseCommand):
    help = (
        "Fit a calibration for a registered model version on a labelled folder (<emotion>/*.png), check it "
        "on held-out faces, store it with the model version and recompute its predictions. A calibration "
        "that makes held-out ECE worse is refused and nothing is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model-version", dest="model_version_id", type=int, required=True, help="ModelVersion id")
        parser.add_argument("--faces-dir", required=True, type=Path)
        parser.add_argument("--methods", default=",".join(calibration_math.CALIBRATION_METHODS))
        parser.add_argument("--held-out-fraction", type=float, default=0.5)
        parser.add_argument("--threshold", type=float, default=0.8, help="for the printed figures only")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--no-activate", action="store_true", help="store it without making it active")

    def handle(self, *args, **options) -> None:
        from ml.calibrate import FacesFolderMissing, calibrate, describe_quantifier, format_figures_table, to_jsonable

        model_version = ModelVersion.objects.filter(pk=options["model_version_id"]).first()
        if model_version is None:
            raise CommandError(f"No registered model version with id {options['model_version_id']}.")
        try:
            raw_probabilities, labels = raw_probabilities_for(model_version, options["faces_dir"])
        except FacesFolderMissing as error:
            raise CommandError(str(error), returncode=EXIT_NO_DATA) from error
        try:
            result = calibrate(
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
                source=str(options["faces_dir"]),
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
