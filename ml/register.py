"""Put a trained run into the model registry the workers serve from.

    python -m ml.register RUN_DIR [--name NAME] [--version VERSION] [--activate]

Reads `RUN_DIR/preprocessing.json` (class names, input size, colour mode, scaling, logits) and,
when `python -m ml.evaluate` ran before, the test metrics in `RUN_DIR/evaluation/evaluation.json`.
The registry stores the model file's absolute path: keep the run folder where the workers can
read it. `--activate` makes it the global default for campaigns that name no model.
Uses the same settings as the web app and the workers (DATABASE_URL, ...).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


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


def register(run_dir: Path, *, name: str | None = None, version: str | None = None, activate: bool = False):
    """Register the run's model and return the ModelVersion row."""
    setup_django()
    from inference.services import model_version_register

    run_dir = run_dir.resolve()
    spec = json.loads((run_dir / "preprocessing.json").read_text())
    training_path = run_dir / "training.json"
    training = json.loads(training_path.read_text()) if training_path.is_file() else {}
    architecture = training.get("architecture", "custom")
    source = f"Trained with ml.train ({architecture}) in {run_dir}"
    if "dataset_manifest" in training:
        source += f" on the images listed in {training['dataset_manifest']}"
    return model_version_register(
        name=name or f"mimik-{architecture.replace('_', '-')}",
        version=version or run_dir.name,
        file_path=str(run_dir / spec["file"]),
        framework=spec["framework"],
        class_names=list(spec["class_names"]),
        input_size=spec["input_size"],
        color_mode=spec["color_mode"],
        scaling=spec["scaling"],
        outputs_logits=spec["outputs_logits"],
        source=source + ".",
        metrics=run_metrics(run_dir),
        activate=activate,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a run folder written by ml.train")
    parser.add_argument("--name", help="default: mimik-<architecture>")
    parser.add_argument("--version", help="default: the run folder's name")
    parser.add_argument("--activate", action="store_true", help="serve it to campaigns that name no model")
    arguments = parser.parse_args(argv)
    model_version = register(
        arguments.run_dir, name=arguments.name, version=arguments.version, activate=arguments.activate
    )
    state = "active" if model_version.is_active else "not active"
    print(f"Registered {model_version} (id {model_version.pk}, {state}).")


if __name__ == "__main__":
    main()
