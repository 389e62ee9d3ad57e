"""The lock files `make` installs from agree with the requirements files they were made from, and
the web and worker install (requirements.lock) pulls in neither TensorFlow nor matplotlib."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", re.MULTILINE)


def pins(path: Path) -> dict[str, str]:
    return {name.lower().replace("_", "-"): version for name, version in PIN.findall(path.read_text())}


@pytest.mark.parametrize(
    ("lock", "sources"),
    [
        ("requirements.lock", ["requirements.txt"]),
        ("requirements-ml.lock", ["requirements.txt", "requirements-ml.txt"]),
        ("requirements-dev.lock", ["requirements.txt", "requirements-ml.txt", "requirements-dev.txt"]),
        ("requirements-models.lock", ["requirements-models.txt"]),
    ],
)
def test_every_pin_is_locked_at_its_version_with_hashes(lock, sources):
    locked = pins(ROOT / lock)
    for source in sources:
        for name, version in pins(ROOT / source).items():
            assert locked.get(name) == version, f"{name}=={version} of {source} is not in {lock}: run `make lock`"
    text = (ROOT / lock).read_text()
    assert text.count("--hash=sha256:") >= len(locked)


def test_the_web_and_worker_install_has_no_tensorflow_or_matplotlib():
    locked = pins(ROOT / "requirements.lock")
    assert not [name for name in locked if name.startswith(("tensorflow", "keras", "matplotlib"))]
