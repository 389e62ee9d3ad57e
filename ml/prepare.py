"""Prepare a labelled image set for training: filter, sample, split, and write a manifest.

    python -m ml.prepare SOURCE OUTPUT [--min-side 200] [--max-side 600] [--per-class 2000]
        [--test-fraction 0.2] [--seed 123] [--crop-faces] [--image-size N --color-mode rgb]

SOURCE holds one folder per class (`Happy/`, `Sad/`, ...). OUTPUT receives `train/<class>/`,
`test/<class>/` and `manifest.json` (settings, counts, what was dropped and why, and the SHA-256
of every written file) so that a run can be reproduced and checked.

Defaults are the study's: images whose sides lie within 200-600 px, up to 2,000 per class, a
seeded 80/20 split, BMP dropped. Class folder names are lower-cased.

`--crop-faces` crops each image to its face with the same detector the workers use
(`inference.detection.detect_faces`); images with no face or several faces are dropped.
`--image-size N` writes every image already resized to N x N with the serving preprocessing
(`emotion_math.preprocessing.preprocess_faces`), so training and serving resize the same way;
`resize_image_folder` does the same for a folder ml.train reads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from emotion_math.preprocessing import COLOR_MODES, preprocess_faces

SUPPORTED_SUFFIXES = (".jpg", ".jpeg", ".png")  # what the study kept; BMP, GIF, WebP... are dropped
SUPPORTED_FORMATS = ("JPEG", "PNG")


@dataclass
class PrepareConfig:
    source: Path
    output: Path
    min_side: int = 200
    max_side: int = 600
    per_class: int | None = 2000
    test_fraction: float = 0.2
    seed: int = 123
    crop_faces: bool = False
    face_min_score: float = 0.6  # the workers' default MIMIK_FACE_DETECTION_MIN_SCORE
    image_size: int | None = None
    color_mode: str = "rgb"


@dataclass
class ClassReport:
    found: int = 0
    kept: int = 0
    train: int = 0
    test: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_image(path: Path) -> tuple[np.ndarray | None, str]:
    """(RGB uint8 array, "") for a usable file, else (None, reason)."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return None, "unsupported_format"
    try:
        with Image.open(path) as image:
            if image.format not in SUPPORTED_FORMATS:
                return None, "unsupported_format"
            image.load()
            return np.asarray(image.convert("RGB")), ""
    except (UnidentifiedImageError, OSError, ValueError):
        return None, "unreadable"


def crop_to_face(rgb_image: np.ndarray, min_score: float) -> tuple[np.ndarray | None, str]:
    """The face as the workers crop it (same detector, threshold and margin), or (None, reason)."""
    from inference.detection import crop_face, detect_faces  # imported lazily: only --crop-faces needs it

    faces = [face for face in detect_faces(rgb_image) if face.score >= min_score]
    if not faces:
        return None, "no_face"
    if len(faces) > 1:
        return None, "multiple_faces"
    return crop_face(rgb_image, faces[0]), ""


def to_output_image(rgb_image: np.ndarray, config: PrepareConfig) -> Image.Image:
    if config.image_size is None:
        return Image.fromarray(rgb_image)
    resized = preprocess_faces([rgb_image], input_size=config.image_size, color_mode=config.color_mode, scaling="none")[
        0
    ].astype(np.uint8)
    return Image.fromarray(resized[:, :, 0] if resized.shape[2] == 1 else resized)


def list_class_folders(source: Path) -> list[Path]:
    folders = sorted(path for path in source.iterdir() if path.is_dir() and not path.name.startswith("."))
    if len(folders) < 2:
        raise SystemExit(f"{source} must hold at least two class folders; found {[f.name for f in folders]}.")
    names = [folder.name.lower() for folder in folders]
    if len(set(names)) != len(names):
        raise SystemExit(f"Class folders differ only in case: {names}.")
    return folders


def prepare(config: PrepareConfig) -> dict:
    """Write OUTPUT/train, OUTPUT/test and OUTPUT/manifest.json; return the manifest."""
    if not 0 < config.test_fraction < 1:
        raise ValueError("test_fraction must lie between 0 and 1.")
    if config.color_mode not in COLOR_MODES:
        raise ValueError(f"color_mode must be one of {COLOR_MODES}.")
    for subset in ("train", "test"):
        if (config.output / subset).exists():
            shutil.rmtree(config.output / subset)
    random_generator = random.Random(config.seed)
    reports: dict[str, ClassReport] = {}
    files: list[dict] = []
    for folder in list_class_folders(config.source):
        class_name = folder.name.lower()
        report = reports[class_name] = ClassReport()
        usable: list[tuple[Path, np.ndarray]] = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            report.found += 1
            image, reason = read_image(path)
            if image is None:
                report.drop(reason)
                continue
            if not (config.min_side <= min(image.shape[:2]) and max(image.shape[:2]) <= config.max_side):
                report.drop("size_out_of_bounds")
                continue
            if config.crop_faces:
                image, reason = crop_to_face(image, config.face_min_score)
                if image is None:
                    report.drop(reason)
                    continue
            usable.append((path, image))
        random_generator.shuffle(usable)
        if config.per_class is not None and len(usable) > config.per_class:
            report.dropped["not_sampled"] = len(usable) - config.per_class
            usable = usable[: config.per_class]
        report.kept = len(usable)
        test_count = round(len(usable) * config.test_fraction)
        for index, (path, image) in enumerate(usable):
            subset = "test" if index < test_count else "train"
            target = config.output / subset / class_name / f"{path.stem}.png"
            if target.exists():  # same stem in two sub-folders
                target = target.with_name(f"{path.stem}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}.png")
            target.parent.mkdir(parents=True, exist_ok=True)
            to_output_image(image, config).save(target)
            setattr(report, subset, getattr(report, subset) + 1)
            files.append(
                {
                    "path": str(target.relative_to(config.output)),
                    "class": class_name,
                    "subset": subset,
                    "source": str(path.relative_to(config.source)),
                    "source_sha256": sha256_of(path),
                    "sha256": sha256_of(target),
                }
            )
    manifest = {
        "config": {key: str(value) if isinstance(value, Path) else value for key, value in asdict(config).items()},
        "class_names": sorted(reports),
        "counts": {name: asdict(report) for name, report in sorted(reports.items())},
        "files": files,
    }
    config.output.mkdir(parents=True, exist_ok=True)
    (config.output / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def parse_arguments(argv: list[str] | None = None) -> PrepareConfig:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="folder with one sub-folder per class")
    parser.add_argument("output", type=Path, help="where train/, test/ and manifest.json are written")
    parser.add_argument("--min-side", type=int, default=200, help="drop images with a side below (px)")
    parser.add_argument("--max-side", type=int, default=600, help="drop images with a side above (px)")
    parser.add_argument("--per-class", type=int, default=2000, help="images sampled per class; 0 keeps all")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--crop-faces", action="store_true", help="crop to the face the workers' detector finds")
    parser.add_argument("--face-min-score", type=float, default=0.6, help="detector score a face needs")
    parser.add_argument("--image-size", type=int, default=None, help="resize to N x N as serving does")
    parser.add_argument("--color-mode", choices=COLOR_MODES, default="rgb", help="with --image-size")
    arguments = parser.parse_args(argv)
    return PrepareConfig(
        source=arguments.source,
        output=arguments.output,
        min_side=arguments.min_side,
        max_side=arguments.max_side,
        per_class=arguments.per_class or None,
        test_fraction=arguments.test_fraction,
        seed=arguments.seed,
        crop_faces=arguments.crop_faces,
        face_min_score=arguments.face_min_score,
        image_size=arguments.image_size,
        color_mode=arguments.color_mode,
    )


def write_resized_face(face: np.ndarray, output: Path, *, input_size: int, color_mode: str) -> None:
    """One face resized by `preprocess_faces` (no scaling), saved as a PNG."""
    pixels = preprocess_faces([face], input_size=input_size, color_mode=color_mode, scaling="none")[0]
    pixels = pixels.astype(np.uint8)
    output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(output)


def resize_image_folder(source: Path, target: Path, *, input_size: int, color_mode: str) -> int:
    """Copy source/<class>/*.jpg|png to target/<class>/*.png resized by `preprocess_faces` (no scaling).

    ml.train reads these copies, so a model trains on exactly the pixels serving will feed it
    (PIL's resize and luma, not TensorFlow's). Returns the number of images written."""
    written = 0
    for class_folder in sorted(path for path in source.iterdir() if path.is_dir() and not path.name.startswith(".")):
        images = sorted(p for p in class_folder.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES)
        for index, path in enumerate(images):
            with Image.open(path) as image:
                face = np.asarray(image if image.mode == "L" else image.convert("RGB"))
            output = target / class_folder.name / f"{index:06d}-{path.stem}.png"
            write_resized_face(face, output, input_size=input_size, color_mode=color_mode)
            written += 1
    return written


def worker_path_image_folder(source: Path, target: Path, *, input_size: int, color_mode: str, seed: int) -> int:
    """Like resize_image_folder, but every face first goes the workers' way (inference.worker_faces:
    a webcam-like JPEG, the detector, the quality gates, the crop), so a model trains on the crops
    the workers will hand it. Faces the gates refuse are left out. Needs Django settings.
    Returns the number of images written."""
    from inference.labelled_faces import load_labelled_faces
    from inference.worker_faces import worker_faces

    class_names = sorted(path.name for path in source.iterdir() if path.is_dir() and not path.name.startswith("."))
    faces, labels = load_labelled_faces(source, class_names)
    taken = worker_faces(faces, labels, input_size=input_size, seed=seed)
    print(f"{source}: {len(taken.labels)} of {taken.given} faces taken the workers' way; left out {taken.dropped}")
    for index, (crop, label) in enumerate(zip(taken.crops, taken.labels, strict=True)):
        output = target / class_names[int(label)] / f"{index:06d}.png"
        write_resized_face(crop, output, input_size=input_size, color_mode=color_mode)
    return len(taken.labels)


def main(argv: list[str] | None = None) -> None:
    manifest = prepare(parse_arguments(argv))
    for class_name, counts in manifest["counts"].items():
        dropped = ", ".join(f"{reason} {count}" for reason, count in counts["dropped"].items()) or "none"
        print(
            f"{class_name:>12}: found {counts['found']}, train {counts['train']}, test {counts['test']};"
            f" dropped: {dropped}"
        )
    print(f"Manifest: {Path(manifest['config']['output']) / 'manifest.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
