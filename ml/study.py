"""The study's own experiment on real faces, beside the default model on the same test split.

    python -m ml.study --faces-dir /path/to/faces [--work-dir $TMPDIR/mimik-study]
        [--task two five] [--variants small-64-gray small-bn-48-gray] [--seeds 123 124 125]
        [--reuse] [--json FILE]

The faces folder (FER2013 research data, `train/<emotion>/` and `test/<emotion>/`) is read from
the path given or `MIMIK_FACES_DIR` and never copied: each task gets a folder of symbolic links
under the work folder (outside the repository), with a manifest naming the source and its licence
status. Tasks: `two` is happy vs sad (the study reached 88%); `five` is happy, sad, angry,
neutral and surprise (the five classes of ml.real_faces_report). For each task the default
FER2013 model and every variant are evaluated with ml.evaluate on the task's whole test split,
and the script prints one comparison table (accuracy, macro F1, ECE, epochs, training time,
machine load while training) and a confusion matrix per model, as Markdown.

Variants are ml.train runs (batch 16, Adam 0.001, at most 40 epochs, EarlyStopping, augmentation
on, validation 20% of train/; each seed in `--seeds` trains one model, with its own
validation split and initial weights; the same seed gives the same model):
- `study`: the study's settings, small CNN on 128 px RGB;
- `small-64-gray`: small CNN on 64 px grayscale (the best of the first study on happy vs sad);
- `small-bn-48-gray`: the wider small CNN with BatchNormalization on the native 48 px grayscale.
`--reuse` keeps a run whose training.json has the same settings instead of training it again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
FACES_DIR_VARIABLE = "MIMIK_FACES_DIR"  # the variable ml.calibrate and ml.real_faces_report read
EXIT_NO_DATA = 2
TASKS: dict[str, tuple[str, ...]] = {
    "two": ("happy", "sad"),
    "five": ("happy", "sad", "angry", "neutral", "surprise"),  # ml.real_faces_report.FIVE_CLASSES
}
VARIANTS: dict[str, dict[str, Any]] = {
    "study": {"architecture": "small_cnn", "input_size": 128, "color_mode": "rgb"},
    "small-64-gray": {"architecture": "small_cnn", "input_size": 64, "color_mode": "grayscale"},
    "small-bn-48-gray": {"architecture": "small_cnn_bn", "input_size": 48, "color_mode": "grayscale"},
}
DEFAULT_VARIANTS = {"two": ["small-64-gray"], "five": ["small-64-gray", "small-bn-48-gray"]}
BATCH_SIZE = 16  # the study's
LICENCE_STATUS = (
    "FER2013 (Carrier and Courville, ICML 2013) carries no licence: research and competition data "
    "gathered by web image search. Not redistributable; do not copy into the project or a package."
)
LOAD_SAMPLE_SECONDS = 5.0


class FacesFolderMissing(FileNotFoundError):
    pass


# --- Data: symbolic links, never copies -------------------------------------------------------
def faces_root(given: str | None) -> Path:
    folder = given or os.environ.get(FACES_DIR_VARIABLE)
    if not folder:
        raise FacesFolderMissing(f"No faces folder: pass --faces-dir or set {FACES_DIR_VARIABLE}.")
    root = Path(folder)
    if not ((root / "train").is_dir() and (root / "test").is_dir()):
        raise FacesFolderMissing(f"{root} must hold train/<emotion>/ and test/<emotion>/ folders.")
    return root


def check_outside_repository(work_dir: Path) -> None:
    """Links to research data must not end up where `git add` could pick them up; ml/runs is ignored."""
    resolved = work_dir.resolve()
    if resolved.is_relative_to(REPOSITORY) and not resolved.is_relative_to(REPOSITORY / "ml" / "runs"):
        raise SystemExit(f"--work-dir {work_dir} lies inside the repository; use /tmp/... or ml/runs/...")


def link_task_data(faces: Path, classes: Sequence[str], target: Path) -> dict[str, Any]:
    """target/{train,test}/<class> -> faces/{train,test}/<class>, plus target/manifest.json (which
    ml.train records in training.json, so a model's card can name its training data)."""
    from ml.prepare import sha256_of

    counts: dict[str, dict[str, int]] = {}
    files = []
    for subset in ("train", "test"):
        for name in classes:
            source = faces / subset / name
            if not source.is_dir():
                raise FacesFolderMissing(f"{source} is missing.")
            link = target / subset / name
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                if link.resolve() != source.resolve():
                    raise SystemExit(f"{link} exists and does not point to {source}.")
            else:
                link.symlink_to(source.resolve(), target_is_directory=True)
            paths = sorted(path for path in source.iterdir() if path.suffix.lower() == ".png")
            counts.setdefault(name, {})[subset] = len(paths)
            files += [{"path": f"{subset}/{name}/{path.name}", "sha256": sha256_of(path)} for path in paths]
    sources = faces / "SOURCES.md"
    manifest = {
        "config": {"source": str(faces.resolve()), "linked_not_copied": True, "classes": list(classes)},
        "source_description": sources.read_text() if sources.is_file() else None,
        "licence_status": LICENCE_STATUS,
        "class_names": sorted(classes),
        "counts": counts,
        "files": files,
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


# --- Training with the machine's load recorded ------------------------------------------------
class LoadSampler:
    """The 1-minute load average every few seconds while a run trains: on a shared machine the
    training time means little without it."""

    def __init__(self, interval: float = LOAD_SAMPLE_SECONDS) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, Any]:
        return {
            "load_average_mean": round(sum(self.samples) / len(self.samples), 2) if self.samples else None,
            "load_average_max": round(max(self.samples), 2) if self.samples else None,
            "cpus": os.cpu_count(),
        }


def same_settings(run_dir: Path, config: Any) -> bool:
    training_path = run_dir / "training.json"
    if not (training_path.is_file() and (run_dir / "model.keras").is_file()):
        return False
    recorded = json.loads(training_path.read_text())["config"]
    wanted = {key: str(value) if isinstance(value, Path) else value for key, value in vars(config).items()}
    keys = ("data_dir", "architecture", "input_size", "color_mode", "batch_sizes", "epochs", "seed", "augment")
    return all(recorded.get(key) == wanted[key] for key in keys)


def train_variant(
    data_dir: Path, run_dir: Path, variant: str, epochs: int, seed: int, reuse: bool, max_minutes: float | None
) -> dict[str, Any]:
    import keras

    from ml.train import TrainConfig, train

    config = TrainConfig(
        data_dir=data_dir,
        run_dir=run_dir,
        batch_sizes=[BATCH_SIZE],
        epochs=epochs,
        seed=seed,
        max_minutes=max_minutes,
        verbose=2,
        **VARIANTS[variant],
    )
    load_path = run_dir / "study_load.json"
    if reuse and same_settings(run_dir, config):
        print(f"Reusing {run_dir} (same settings).")
    else:
        keras.backend.clear_session()
        with LoadSampler() as sampler:
            train(config)
        load_path.write_text(json.dumps(sampler.summary(), indent=2))
    training = json.loads((run_dir / "training.json").read_text())
    training["load"] = json.loads(load_path.read_text()) if load_path.is_file() else {}
    return training


# --- Comparison --------------------------------------------------------------------------------
def markdown_confusion_matrix(evaluation: dict[str, Any]) -> str:
    names = evaluation["class_names"]
    lines = [
        "| true \\ predicted | " + " | ".join(names) + " | recall |",
        "| --- | " + " | ".join("---:" for _ in names) + " | ---: |",
    ]
    for name, row in zip(names, evaluation["confusion_matrix"], strict=True):
        recall = evaluation["report"]["classes"][name]["recall"]
        lines.append(f"| {name} | " + " | ".join(str(count) for count in row) + f" | {recall:.2f} |")
    return "\n".join(lines)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| Model | Test accuracy | Macro F1 | ECE | Epochs (best) | Training | Load average while training |",
        "| --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for row in rows:
        evaluation, training = row["evaluation"], row.get("training")
        if training:
            epochs = f"{training['epochs_run']} ({training['best_epoch']})"
            if training.get("stopped_by_time_budget"):
                epochs += ", time limit"
            minutes = f"{training['training_seconds'] / 60:.1f} min"
            load = training.get("load") or {}
            load_text = (
                f"{load['load_average_mean']:.1f} mean, {load['load_average_max']:.1f} max on {load['cpus']} CPUs"
                if load.get("load_average_mean") is not None
                else "not recorded"
            )
        else:
            epochs, minutes, load_text = "—", "—", "—"
        lines.append(
            f"| {row['label']} | {evaluation['accuracy']:.3f} | {evaluation['report']['macro_avg']['f1']:.3f} "
            f"| {evaluation['expected_calibration_error']:.3f} | {epochs} | {minutes} | {load_text} |"
        )
    return "\n".join(lines)


def describe_variant(variant: str) -> str:
    settings = VARIANTS[variant]
    architecture = {"small_cnn": "small CNN", "small_cnn_bn": "small CNN + BatchNorm, 32-64-128"}[
        settings["architecture"]
    ]
    colour = "grayscale" if settings["color_mode"] == "grayscale" else "RGB"
    return f"{architecture}, {settings['input_size']} px {colour}, batch {BATCH_SIZE}"


def beats_default(row: dict[str, Any], default: dict[str, Any]) -> bool:
    """The registration rule: better on accuracy AND on calibration, on the same faces."""
    return (
        row["evaluation"]["accuracy"] > default["evaluation"]["accuracy"]
        and row["evaluation"]["expected_calibration_error"] < default["evaluation"]["expected_calibration_error"]
    )


def run_task(
    faces: Path,
    work_dir: Path,
    task: str,
    variants: Sequence[str],
    seeds: Sequence[int],
    epochs: int,
    reuse: bool,
    max_minutes: float | None,
) -> dict[str, Any]:
    from ml.evaluate import evaluate

    data_dir = work_dir / "data" / task
    manifest = link_task_data(faces, TASKS[task], data_dir)
    rows = [
        {
            "label": "default FER2013 model (7 classes restricted to these)",
            "run_dir": None,
            "evaluation": evaluate("default", data_dir, work_dir / "runs" / f"{task}-default" / "evaluation"),
        }
    ]
    for variant in variants:
        for seed in seeds:
            run_dir = work_dir / "runs" / f"{task}-{variant}-seed{seed}"
            training = train_variant(data_dir, run_dir, variant, epochs, seed, reuse, max_minutes)
            rows.append(
                {
                    "label": f"{describe_variant(variant)}, seed {seed}",
                    "variant": variant,
                    "seed": seed,
                    "run_dir": str(run_dir),
                    "training": training,
                    "evaluation": evaluate(str(run_dir), data_dir),
                }
            )
    for row in rows[1:]:
        row["beats_default_on_accuracy_and_ece"] = beats_default(row, rows[0])
    return {
        "task": task,
        "classes": list(TASKS[task]),
        "seeds": list(seeds),
        "summary": summarise(rows, variants),
        "counts": manifest["counts"],
        "test_images": rows[0]["evaluation"]["images"],
        "rows": rows,
    }


def summarise(rows: list[dict[str, Any]], variants: Sequence[str]) -> dict[str, dict[str, float]]:
    """Mean and spread over seeds: one run of a small network on a few thousand faces can be several
    points off its average."""
    import numpy as np

    summary = {}
    for variant in variants:
        runs = [row for row in rows if row.get("variant") == variant]
        accuracies = np.array([row["evaluation"]["accuracy"] for row in runs])
        eces = np.array([row["evaluation"]["expected_calibration_error"] for row in runs])
        summary[variant] = {
            "runs": len(runs),
            "accuracy_mean": float(accuracies.mean()),
            "accuracy_min": float(accuracies.min()),
            "accuracy_max": float(accuracies.max()),
            "ece_mean": float(eces.mean()),
            "training_minutes_mean": float(np.mean([row["training"]["training_seconds"] for row in runs]) / 60),
        }
    return summary


def format_task(result: dict[str, Any]) -> str:
    train_count = sum(counts["train"] for counts in result["counts"].values())
    lines = [
        f"## {', '.join(result['classes'])}: {train_count} training faces (20% held out for validation), "
        f"{result['test_images']} test faces",
        "",
        markdown_table(result["rows"]),
        "",
    ]
    default_accuracy = result["rows"][0]["evaluation"]["accuracy"]
    for variant, summary in result["summary"].items():
        lines.append(
            f"- {describe_variant(variant)} over {summary['runs']} seeds: accuracy {summary['accuracy_mean']:.3f} "
            f"(range {summary['accuracy_min']:.3f}-{summary['accuracy_max']:.3f}; default {default_accuracy:.3f}), "
            f"ECE {summary['ece_mean']:.3f}, {summary['training_minutes_mean']:.1f} min per run"
        )
    lines.append("")
    first_seed = result["seeds"][0]
    for row in result["rows"]:
        if row.get("seed", first_seed) == first_seed:
            lines += [f"{row['label']}:", "", markdown_confusion_matrix(row["evaluation"]), ""]
    for row in result["rows"][1:]:
        verdict = "beats" if row["beats_default_on_accuracy_and_ece"] else "does not beat"
        lines.append(f"- {row['label']} {verdict} the default model on accuracy and ECE together.")
    return "\n".join(lines)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces-dir", help=f"folder with train/ and test/ (default: ${FACES_DIR_VARIABLE})")
    parser.add_argument(
        "--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "mimik-study", help="links, runs, evaluations"
    )
    parser.add_argument("--task", nargs="+", choices=sorted(TASKS), default=["two", "five"])
    parser.add_argument(
        "--variants", nargs="+", choices=sorted(VARIANTS), help="default: two: small-64-gray; five: + small-bn-48-gray"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[123], help="one model per seed (123: ml.train's)")
    parser.add_argument("--epochs", type=int, default=40, help="upper bound; EarlyStopping usually ends sooner")
    parser.add_argument(
        "--max-minutes", type=float, default=15.0, help="per run: stop after the epoch past it (0: no limit)"
    )
    parser.add_argument("--reuse", action="store_true", help="keep runs already trained with the same settings")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        faces = faces_root(arguments.faces_dir)
    except FacesFolderMissing as error:
        print(f"No study: {error}", file=sys.stderr)
        return EXIT_NO_DATA
    check_outside_repository(arguments.work_dir)
    started = time.monotonic()
    results = [
        run_task(
            faces,
            arguments.work_dir,
            task,
            arguments.variants or DEFAULT_VARIANTS[task],
            arguments.seeds,
            arguments.epochs,
            arguments.reuse,
            arguments.max_minutes or None,
        )
        for task in arguments.task
    ]
    print("\n\n# The study on real faces\n")
    print("\n\n".join(format_task(result) for result in results))
    print(f"\nStudy took {(time.monotonic() - started) / 60:.1f} min; runs in {arguments.work_dir / 'runs'}.")
    if arguments.json:
        for result in results:
            for row in result["rows"]:
                row["evaluation"].pop("reliability", None)
        arguments.json.write_text(json.dumps(results, indent=2))
        print(f"JSON written to {arguments.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
