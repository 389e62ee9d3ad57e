"""One tiny trained run shared by the ml tests: synthetic happy/sad faces, prepared, 2 epochs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.tests.synthetic import make_image_folder


@pytest.fixture(scope="session")
def prepared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ml.prepare import main as prepare_main

    root = tmp_path_factory.mktemp("ml-data")
    make_image_folder(root / "raw", per_class=40, min_size=40, max_size=90)
    prepare_main([str(root / "raw"), str(root / "prepared"), "--min-side", "40", "--max-side", "100"])
    return root / "prepared"


@pytest.fixture(scope="session")
def trained_run(prepared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m ml.train` with the study's defaults except 2 epochs and 32 px inputs."""
    from ml.train import main as train_main

    run_dir = tmp_path_factory.mktemp("ml-run") / "run"
    train_main([str(prepared_data), "--run-dir", str(run_dir), "--epochs", "2", "--input-size", "32", "--quiet"])
    return run_dir
