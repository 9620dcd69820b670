"""Per-utterance labels from a sentence vector: logistic-regression heads over the embedding.

Agent utterances get conduct (none / dismissive / rude / blaming), empathy (apology,
understanding) and hedging (low confidence: 可能吧, 应该是, "I guess maybe"); customer
utterances get an emotion (neutral / angry / frustrated / anxious / satisfied). Each
label comes with two score thresholds chosen on the labelled set
(benchmarks/semantic/train_heads.py): `find`, from which it is reported, and `sure`,
from which it is reported without asking a person.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa_engine.types import Speaker

CONDUCT = ("dismissive", "rude", "blaming")
EMOTIONS = ("angry", "frustrated", "anxious", "satisfied")
AGENT_LABELS = (*CONDUCT, "empathy", "hedging")
CUSTOMER_LABELS = (*EMOTIONS, "neutral")
# head -> whose utterances it reads, and its classes ("none"/"neutral"/"other" are the negatives)
HEADS: dict[str, tuple[Speaker, tuple[str, ...]]] = {
    "conduct": ("agent", ("none", *CONDUCT)),
    "empathy": ("agent", ("other", "empathy")),
    "hedging": ("agent", ("other", "hedging")),
    "emotion": ("customer", ("neutral", *EMOTIONS)),
}
_NEGATIVE = {"none", "other"}


@dataclass(frozen=True)
class Threshold:
    find: float  # reported from here
    sure: float  # reported without review from here

    def to_list(self) -> list[float]:
        return [round(self.find, 3), round(self.sure, 3)]


@dataclass
class Head:
    classes: tuple[str, ...]
    coef: np.ndarray  # (1, dim) for two classes, (n_classes, dim) otherwise
    intercept: np.ndarray
    c: float = 1.0  # the regularisation it was fitted with

    def proba(self, x: np.ndarray) -> np.ndarray:
        """(n, n_classes) probabilities."""
        z = x @ self.coef.T + self.intercept
        if len(self.classes) == 2:
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.stack([1.0 - p, p], axis=1)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


@dataclass
class Heads:
    """The trained heads of one encoder, their thresholds, and how the encoder is fed."""

    encoder: str
    heads: dict[str, Head]
    thresholds: dict[str, Threshold]
    prefix: str = ""  # prepended to each text (transformers folders; e5 wants "query: ")
    pooling: str = "mean"

    def scores(self, x: np.ndarray, speaker: Speaker) -> list[dict[str, float]]:
        """A score per label for each row of `x` (utterances of `speaker`)."""
        out: list[dict[str, float]] = [{} for _ in range(len(x))]
        for name, (spk, classes) in HEADS.items():
            if spk != speaker or not len(x):
                continue
            p = self.heads[name].proba(x)
            for j, cls in enumerate(classes):
                if cls in _NEGATIVE:
                    continue
                for row, d in enumerate(out):
                    d[cls] = float(p[row, j])
        return out

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {}
        for name, h in self.heads.items():
            arrays[f"{name}.coef"] = h.coef.astype(np.float32)
            arrays[f"{name}.intercept"] = h.intercept.astype(np.float32)
        meta = {"encoder": self.encoder, "prefix": self.prefix, "pooling": self.pooling,
                "classes": {n: list(h.classes) for n, h in self.heads.items()},
                "thresholds": {k: t.to_list() for k, t in sorted(self.thresholds.items())}}
        arrays["meta"] = np.array(json.dumps(meta, ensure_ascii=False, sort_keys=True))
        with path.open("wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: Path) -> Heads:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            heads = {n: Head(tuple(c), z[f"{n}.coef"].astype(np.float64), z[f"{n}.intercept"].astype(np.float64))
                     for n, c in meta["classes"].items()}
        missing = set(HEADS) - set(heads)
        if missing:
            raise ValueError(f"{path.name}: heads missing: {', '.join(sorted(missing))}")
        return cls(encoder=meta["encoder"], heads=heads,
                   thresholds={k: Threshold(*v) for k, v in meta["thresholds"].items()},
                   prefix=meta.get("prefix", ""), pooling=meta.get("pooling", "mean"))


def head_targets(name: str, roles: list[str], labels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Which rows a head trains on, and the class of each (labels outside its classes are negatives)."""
    speaker, classes = HEADS[name]
    rows = [i for i, r in enumerate(roles) if r == speaker]
    neg = classes[0]
    return np.array(rows, dtype=int), [labels[i] if labels[i] in classes else neg for i in rows]


def fit_head(name: str, x: np.ndarray, y: list[str], c: float | None = None) -> Head:
    """One head: logistic regression on the unit sentence vectors, classes weighted to their size.

    `c` (inverse regularisation) is chosen by 5-fold cross-validation (log-loss) on these rows
    when not given: over a wide range, since encoders differ in how tightly their vectors
    crowd together (e5's are all at cosine ~0.8 to each other, USE's spread out).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    classes = HEADS[name][1]
    target = [classes.index(v) for v in y]
    if len(set(target)) != len(classes):
        raise ValueError(f"head {name}: the training rows lack a class ({classes})")

    def model(c: float) -> LogisticRegression:
        return LogisticRegression(C=c, class_weight="balanced", max_iter=5000)

    if c is None:
        grid = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
        losses = [cross_val_score(model(g), x, target, cv=5, scoring="neg_log_loss").mean() for g in grid]
        c = grid[int(np.argmax(losses))]
    lr = model(c).fit(x, target)
    return Head(classes, lr.coef_.copy(), lr.intercept_.copy(), c)
