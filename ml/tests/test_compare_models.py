"""Models side by side, each calibrated on one folder and measured on another."""

import shutil
from pathlib import Path

import pytest

from ml.compare_models import compare, format_comparison


def test_each_model_is_calibrated_on_one_folder_and_counted_on_the_other(
    trained_run: Path, prepared_data: Path, tmp_path: Path
):
    twin = tmp_path / "twin"
    shutil.copytree(trained_run, twin)
    result = compare(
        [str(trained_run), str(twin)],
        prepared_data / "train",
        prepared_data / "test",
        mirror=True,
        campaigns=6,
        timing_faces=4,
    )
    assert result["class_names"] == ["happy", "sad"]
    assert result["faces"] == {"calibration": 64, "test": 16}
    figures = result["models"][str(trained_run)]
    assert figures["accuracy"] >= 0.75
    assert 0.0 <= figures["ece_after"] <= 1.0
    assert figures["cpu_ms_per_face"] > 0
    for emotion in ("happy", "sad"):
        row = figures["per_emotion"][emotion]
        assert row["faces"] == 8
        assert row["recall"] == row["counted_right"] / 8
    # Known-truth campaigns (A mostly happy, B mostly sad) from the 16 test faces, measured with
    # the quantifier of the calibration folder.
    known = figures["known_truth"]
    assert known["campaigns"] == 6 and known["focus_classes"] == ["happy", "sad"]
    assert known["direction_right_estimated"] >= 5
    assert 0 <= known["within_target"] <= 6 and known["worst_error_median"] <= known["worst_error_max"] < 1
    # Mirror averaging is a column of its own, with its own calibration and campaigns on the same faces.
    mirrored = result["models"][f"{trained_run} + mirror"]
    assert mirrored["known_truth"]["campaigns"] == 6 and 0 <= mirrored["ece_after"] <= 1
    # Two identical models: their ensemble is the model, calibrated once more.
    assert result["models"]["ensemble"]["accuracy"] == figures["accuracy"]
    table = format_comparison(result)
    assert "| ensemble |" in table and "sad: recall / precision at P ≥ 0.8" in table
    assert "| known-truth: campaigns with happy, sad within 0.05 |" in table


def test_models_that_know_other_classes_are_refused(trained_run: Path, prepared_data: Path):
    with pytest.raises(SystemExit, match="not comparable"):
        compare([str(trained_run), "default"], prepared_data / "train", prepared_data / "test", timing_faces=4)
