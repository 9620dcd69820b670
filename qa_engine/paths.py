"""Where the project's data folders are: `models/` and `rubrics/` beside the package.

Overridable by environment for installs that keep them elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from qa_engine.errors import AudioError, QAError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def models_manifest() -> Path:
    return Path(os.environ.get("QA_MODELS_MANIFEST", PROJECT_ROOT / "models" / "manifest.yaml"))


def rubrics_dir() -> Path:
    return Path(os.environ.get("QA_RUBRICS_DIR", PROJECT_ROOT / "rubrics"))


def model_cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qa-engine" / "models"
    return Path(os.environ.get("QA_MODEL_CACHE", default))


def check_input_file(path: Path, error: type[QAError] = AudioError, missing: str = "file not found") -> None:
    """An input that is missing or not a file fails here: cheap, before anything heavy is imported or read."""
    if not path.exists():
        raise error(f"{path}: {missing}")
    if not path.is_file():
        raise error(f"{path}: not a file")
