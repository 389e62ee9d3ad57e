"""Where a registry entry's model file lives. No Django: migrations and ml/ resolve files too."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path


def resolve_model_file(file_path: str) -> Path:
    """'dist:<distribution>:<path inside it>' is a data file of an installed wheel; else a path."""
    if file_path.startswith("dist:"):
        _prefix, distribution, inner = file_path.split(":", 2)
        return Path(str(importlib.metadata.distribution(distribution).locate_file(inner)))
    return Path(file_path)
