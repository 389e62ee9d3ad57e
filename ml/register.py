"""Put a trained run into the model registry the workers serve from.

    python -m ml.register RUN_DIR [--name NAME] [--version VERSION] [--activate] [--tflite]
        [--training-data-licence TEXT] [--max-model-mb 5]

Reads `RUN_DIR/preprocessing.json` (class names, input size, colour mode, scaling, logits) and,
when `python -m ml.evaluate` ran before, the test metrics in `RUN_DIR/evaluation/evaluation.json`.
Writes the model card (ml.model_card) to `RUN_DIR/MODEL_CARD.md` and stores it with the version;
researchers read it from the dashboard. Refused when the training data's licence status
is unknown (no `--training-data-licence` and no SOURCES.md with a Licence line near the dataset)
or when the model file is larger than `--max-model-mb` (default 5 MB).
The registry stores the model file's absolute path: keep the run folder where the workers can
read it. `--activate` makes it the global default for campaigns that name no model. `--tflite`
first converts a Keras run to float32 TFLite (as `ml.train --tflite` does), which the workers
run at a fraction of Keras' CPU a face.
Uses the same settings as the web app and the workers (DATABASE_URL, ...).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ml.model_card import ModelCardError, build_model_card, default_name

MAX_MODEL_MB = 5.0  # MB = 1,000,000 bytes


class RegistrationRefused(ValueError):
    """The run is not registered; the message says why and what to do."""


def setup_django() -> None:
    import django
    from django.apps import apps

    if not apps.ready:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()


def run_metrics(run_dir: Path) -> dict:
    """Validation figures from training and, when present, test figures from ml.evaluate."""
    metrics: dict = {}
    training_path = run_dir / "training.json"
    if training_path.is_file():
        training = json.loads(training_path.read_text())
        metrics["validation"] = {
            "accuracy": training["validation_accuracy"],
            "loss": training["validation_loss"],
            "batch_size": training["batch_size"],
            "epochs_run": training["epochs_run"],
        }
    evaluation_path = run_dir / "evaluation" / "evaluation.json"
    if evaluation_path.is_file():
        evaluation = json.loads(evaluation_path.read_text())
        metrics["test"] = {
            "images": evaluation["images"],
            "accuracy": evaluation["accuracy"],
            "expected_calibration_error": evaluation["expected_calibration_error"],
            "per_class": evaluation["report"]["classes"],
            "test_dir": evaluation["test_dir"],
        }
    return metrics


def check_model_size(model_path: Path, max_model_mb: float) -> None:
    size = model_path.stat().st_size
    if size > max_model_mb * 1_000_000:
        raise RegistrationRefused(
            f"{model_path} is {size / 1_000_000:.2f} MB, over the {max_model_mb:g} MB limit for registered "
            "models. Make it smaller (a smaller --input-size, fewer filters, or a TFLite conversion), or "
            "raise the limit knowingly with --max-model-mb."
        )


def register(
    run_dir: Path,
    *,
    name: str | None = None,
    version: str | None = None,
    activate: bool = False,
    training_data_licence: str | None = None,
    max_model_mb: float = MAX_MODEL_MB,
):
    """Register the run's model with its card and return the ModelVersion row. Raises
    RegistrationRefused, before anything is stored, for an oversized file or unknown data licence."""
    setup_django()
    from inference.services import model_version_register

    run_dir = run_dir.resolve()
    spec = json.loads((run_dir / "preprocessing.json").read_text())
    training_path = run_dir / "training.json"
    training = json.loads(training_path.read_text()) if training_path.is_file() else {}
    architecture = training.get("architecture", "custom")
    name = name or default_name(training)
    version = version or run_dir.name
    check_model_size(run_dir / spec["file"], max_model_mb)
    try:
        card = build_model_card(run_dir, name=name, version=version, training_data_licence_text=training_data_licence)
    except ModelCardError as error:
        raise RegistrationRefused(str(error)) from error
    source = f"Trained with ml.train ({architecture}) in {run_dir}"
    if "dataset_manifest" in training:
        source += f" on the images listed in {training['dataset_manifest']}"
    model_version = model_version_register(
        name=name,
        version=version,
        file_path=str(run_dir / spec["file"]),
        framework=spec["framework"],
        class_names=list(spec["class_names"]),
        input_size=spec["input_size"],
        color_mode=spec["color_mode"],
        scaling=spec["scaling"],
        outputs_logits=spec["outputs_logits"],
        source=source + ".",
        metrics=run_metrics(run_dir),
        model_card=card,
        activate=activate,
    )
    # Written once the version exists, so a MODEL_CARD.md always belongs to a registered model.
    (run_dir / "MODEL_CARD.md").write_text(card)
    return model_version


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a run folder written by ml.train")
    parser.add_argument("--name", help="default: mimik-<architecture>")
    parser.add_argument("--version", help="default: the run folder's name")
    parser.add_argument("--activate", action="store_true", help="serve it to campaigns that name no model")
    parser.add_argument("--tflite", action="store_true", help="convert a Keras run to TFLite first and register that")
    parser.add_argument(
        "--training-data-licence",
        help="the training images' licence status, for the model card; default: the Licence line of a "
        "SOURCES.md in the dataset folder or a parent",
    )
    parser.add_argument(
        "--max-model-mb",
        type=float,
        default=MAX_MODEL_MB,
        help=f"largest model file accepted (default {MAX_MODEL_MB:g})",
    )
    arguments = parser.parse_args(argv)
    if arguments.tflite:
        from ml.train import export_tflite

        print(f"Converted to {export_tflite(arguments.run_dir)}.")
    try:
        model_version = register(
            arguments.run_dir,
            name=arguments.name,
            version=arguments.version,
            activate=arguments.activate,
            training_data_licence=arguments.training_data_licence,
            max_model_mb=arguments.max_model_mb,
        )
    except RegistrationRefused as error:
        raise SystemExit(f"Not registered: {error}") from error
    state = "active" if model_version.is_active else "not active"
    card_path = arguments.run_dir / "MODEL_CARD.md"
    print(f"Registered {model_version} (id {model_version.pk}, {state}); model card: {card_path}.")


if __name__ == "__main__":
    main()
