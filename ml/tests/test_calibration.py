"""The study's calibration command line and report on generated data (the calibration math itself
is tested in tests/emotion_math)."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_math import calibration
from emotion_math.counting import threshold_figures
from ml.calibrate import EXIT_NO_DATA, write_reliability_diagrams
from ml.calibrate import main as calibrate_main
from ml.real_faces_report import describe_threshold_figures
from ml.real_faces_report import main as report_main
from tests.emotion_math.generated import CLASS_NAMES, generated_model


def test_reliability_diagrams_are_written_as_png_and_html(tmp_path) -> None:
    probabilities, labels = generated_model(120, overconfidence=2.5, seed=11)
    result = calibration.calibrate(probabilities, labels, class_names=CLASS_NAMES, methods=["temperature"])
    png_path, html_path = write_reliability_diagrams(
        {"raw": result["held_out"]["reliability_before"], "calibrated": result["held_out"]["reliability_after"]},
        {"raw": result["held_out"]["before"]["ece"], "calibrated": result["held_out"]["after"]["ece"]},
        tmp_path,
        "generated",
    )
    assert png_path.stat().st_size > 1000
    assert "plotly" in html_path.read_text()


@pytest.mark.parametrize("command", [calibrate_main, report_main])
def test_command_lines_say_clearly_when_the_faces_folder_is_missing(command, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("MIMIK_FACES_DIR", raising=False)
    assert command(["--output-dir", str(tmp_path)] if command is calibrate_main else []) == EXIT_NO_DATA
    assert "MIMIK_FACES_DIR" in capsys.readouterr().err
    assert command(["--faces-dir", str(tmp_path / "absent")]) == EXIT_NO_DATA
    assert "does not exist" in capsys.readouterr().err


def test_the_report_says_threshold_figures_in_plain_words() -> None:
    probabilities = np.array([[0.9, 0.1], [0.85, 0.15], [0.1, 0.9], [0.3, 0.7], [0.15, 0.85]])
    labels = np.array([0, 1, 1, 1, 1])
    figures = threshold_figures(probabilities, labels, ("happy", "sad"), 0.8)
    sentence = describe_threshold_figures("sad", figures["sad"], 0.8)
    assert sentence.startswith("At 0.8, this model counts about 1 in 2 sad faces")
    assert "only 2 counted frames" in sentence
