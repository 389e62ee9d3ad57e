"""Layers: the apps import one another in one direction only (ingestion, inference, aggregation),
emotion_math imports nothing of the project's and no Django, and the apps never import the study
(ml/), which may import them and emotion_math."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Each app may import the ones before it, never one after, so the house reads in this order.
APP_ORDER = ("campaigns", "sessions", "inference", "dashboard", "reports", "demo")
APPS = (*APP_ORDER, "config")
PROJECT_PACKAGES = (*APPS, "ml", "bench", "tests")


def imported_packages(folder: Path) -> dict[str, set[str]]:
    """Top-level package of every import (module level or inside functions) -> files importing it."""
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("app", APP_ORDER)
def test_an_app_imports_only_the_apps_before_it(app: str) -> None:
    later = APP_ORDER[APP_ORDER.index(app) + 1 :]
    imported = imported_packages(ROOT / app)
    assert {name: sorted(files) for name, files in imported.items() if name in later} == {}


def test_emotion_math_imports_nothing_of_the_project_and_no_django() -> None:
    imported = imported_packages(ROOT / "emotion_math")
    assert set(imported) & {*PROJECT_PACKAGES, "django", "rest_framework", "celery", "channels"} == set()


@pytest.mark.parametrize("app", APPS)
def test_no_app_imports_the_study(app: str) -> None:
    assert imported_packages(ROOT / app).get("ml", set()) == set()


def test_emotion_math_loads_without_django_settings() -> None:
    code = (
        "import os, sys; os.environ.pop('DJANGO_SETTINGS_MODULE', None)\n"
        "import emotion_math.calibration, emotion_math.counting, emotion_math.preprocessing\n"
        "import emotion_math.head_turn, emotion_math.report, emotion_math.share_bootstrap, emotion_math.shares\n"
        f"print(sorted({{name.split('.')[0] for name in sys.modules}} & {{'django', 'ml', *{APP_ORDER!r}}}))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
