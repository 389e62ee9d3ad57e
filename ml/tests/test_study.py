"""ml.study on generated faces laid out like the shared FER2013 folder (train/ and test/ per emotion)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml.study import main as study_main
from ml.tests.synthetic import cartoon_face


@pytest.fixture
def faces_dir(tmp_path: Path) -> Path:
    """48 px grayscale PNG faces: 24 train and 8 test per class, happy and sad."""
    generator = np.random.default_rng(1)
    root = tmp_path / "faces"
    for subset, count in (("train", 24), ("test", 8)):
        for emotion in ("happy", "sad"):
            folder = root / subset / emotion
            folder.mkdir(parents=True)
            for index in range(count):
                cartoon_face(emotion, 48, generator).convert("L").save(folder / f"{emotion}-{index:03d}.png")
    (root / "SOURCES.md").write_text("Generated cartoon faces for the tests.\n")
    return root


def test_study_compares_trained_model_with_default_on_the_same_test_faces(
    faces_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    work_dir = tmp_path / "work"
    arguments = ["--faces-dir", str(faces_dir), "--work-dir", str(work_dir), "--task", "two"]
    arguments += ["--variants", "small-64-gray", "--epochs", "1", "--json", str(tmp_path / "study.json")]
    assert study_main(arguments) == 0
    printed = capsys.readouterr().out

    # The data is linked, never copied, and its manifest names the source and its licence status.
    link = work_dir / "data" / "two" / "train" / "happy"
    assert link.is_symlink() and link.resolve() == (faces_dir / "train" / "happy").resolve()
    manifest = json.loads((work_dir / "data" / "two" / "manifest.json").read_text())
    assert manifest["counts"] == {"happy": {"train": 24, "test": 8}, "sad": {"train": 24, "test": 8}}
    assert "no licence" in manifest["licence_status"]
    training = json.loads((work_dir / "runs" / "two-small-64-gray-seed123" / "training.json").read_text())
    assert training["dataset_manifest"] == str((work_dir / "data" / "two" / "manifest.json").resolve())
    assert (training["batch_size"], training["config"]["input_size"]) == (16, 64)
    load = json.loads((work_dir / "runs" / "two-small-64-gray-seed123" / "study_load.json").read_text())
    assert load["cpus"] >= 1 and load["load_average_mean"] >= 0

    # One table, both models on the same 16 test faces, a confusion matrix each.
    [result] = json.loads((tmp_path / "study.json").read_text())
    default_row, trained_row = result["rows"]
    for row in (default_row, trained_row):
        assert row["evaluation"]["images"] == 16
        assert sum(map(sum, row["evaluation"]["confusion_matrix"])) == 16
    assert default_row["evaluation"]["class_names"] == trained_row["evaluation"]["class_names"] == ["happy", "sad"]
    assert "| default FER2013 model (7 classes restricted to these) |" in printed
    assert "| small CNN, 64 px grayscale, batch 16, seed 123 |" in printed
    assert printed.count("| true \\ predicted | happy | sad | recall |") == 2
    assert "on accuracy and ECE together" in printed
    assert result["summary"]["small-64-gray"]["runs"] == 1


def test_study_reuses_a_run_trained_with_the_same_settings(faces_dir: Path, tmp_path: Path):
    arguments = ["--faces-dir", str(faces_dir), "--work-dir", str(tmp_path / "work"), "--task", "two"]
    arguments += ["--variants", "small-64-gray", "--epochs", "1", "--reuse"]
    assert study_main(arguments) == 0
    model_file = tmp_path / "work" / "runs" / "two-small-64-gray-seed123" / "model.keras"
    written = model_file.stat().st_mtime_ns
    assert study_main(arguments) == 0
    assert model_file.stat().st_mtime_ns == written
    assert study_main([*arguments[:-1], "--epochs", "2", "--reuse"]) == 0  # other settings: trained again
    assert model_file.stat().st_mtime_ns != written


def test_study_without_faces_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch):
    monkeypatch.delenv("MIMIK_FACES_DIR", raising=False)
    assert study_main(["--work-dir", str(tmp_path)]) == 2
    assert "pass --faces-dir or set MIMIK_FACES_DIR" in capsys.readouterr().err
    assert study_main(["--faces-dir", str(tmp_path / "absent"), "--work-dir", str(tmp_path)]) == 2


def test_study_refuses_a_work_folder_inside_the_repository(faces_dir: Path):
    with pytest.raises(SystemExit, match="inside the repository"):
        study_main(["--faces-dir", str(faces_dir), "--work-dir", str(Path(__file__).parent / "study-work")])
