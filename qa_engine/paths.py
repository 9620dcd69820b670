"""Where the project's data folders are: `models/` and `rubrics/` beside the package.

Overridable by environment for installs that keep them elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def models_manifest() -> Path:
    return Path(os.environ.get("QA_MODELS_MANIFEST", PROJECT_ROOT / "models" / "manifest.yaml"))


def rubrics_dir() -> Path:
    return Path(os.environ.get("QA_RUBRICS_DIR", PROJECT_ROOT / "rubrics"))


def model_cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qa-engine" / "models"
    return Path(os.environ.get("QA_MODEL_CACHE", default))
