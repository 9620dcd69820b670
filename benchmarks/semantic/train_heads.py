"""Train the semantic heads on the labelled utterances, choose their thresholds, report held-out figures.

    python benchmarks/semantic/train_heads.py                      # both packaged encoders, report only
    python benchmarks/semantic/train_heads.py --write              # ... and write their heads + checksums
    python benchmarks/semantic/train_heads.py --encoder /my/model --prefix "query: " --write

The labelled set is utterances_zh.tsv and utterances_en.tsv beside this script (role, label,
text). In each (language, role, label) group every third utterance is held out; the heads
are fitted on the rest. Thresholds are chosen on the training part alone, from 5-fold
out-of-fold scores: `find` is the lowest score at which a label is right at least
FIND_PRECISION of the time, `sure` the lowest at SURE_PRECISION (conduct findings against
an agent must be right: they ask more). Precision and recall are then measured on the
held-out part, per language, and written to benchmarks/results_semantic.md with --write.
Timing is on one thread; the machine may be shared, so read it as a rough figure.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from qa_engine.asr.models import sha256_of  # noqa: E402
from qa_engine.paths import models_manifest  # noqa: E402
from qa_engine.semantic.classifier import (  # noqa: E402
    CONDUCT,
    HEADS,
    Head,
    Heads,
    Threshold,
    fit_head,
    head_targets,
)
from qa_engine.semantic.models import load_encoder  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = ROOT / "benchmarks" / "results_semantic.md"
FIND_PRECISION = {"conduct": 0.95, "other": 0.8}
SURE_PRECISION = {"conduct": 0.98, "other": 0.9}
GRID = np.round(np.arange(0.30, 0.991, 0.01), 2)
# Never report a label the head itself thinks less likely than not; five emotions share one
# softmax, and anger and frustration split their mass, so there the floor is lower.
FLOOR = {"emotion": 0.4}
DEFAULT_FLOOR = 0.5


@dataclass
class Row:
    lang: str
    role: str
    label: str
    text: str
    held_out: bool


def read_set() -> list[Row]:
    rows: list[Row] = []
    for lang in ("zh", "en"):
        seen: dict[tuple[str, str], int] = {}
        for line in (HERE / f"utterances_{lang}.tsv").read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            role, label, text = line.split("\t")
            n = seen.get((role, label), 0)
            seen[(role, label)] = n + 1
            rows.append(Row(lang, role, label, text, held_out=n % 3 == 2))
    return rows


def _positive_labels(head: str) -> tuple[str, ...]:
    return tuple(c for c in HEADS[head][1] if c not in ("none", "other", "neutral"))


def _precision_at(scores: np.ndarray, truth: np.ndarray, t: float) -> tuple[float, int]:
    pred = scores >= t
    return (float((pred & truth).sum() / pred.sum()) if pred.any() else 1.0), int(pred.sum())


def choose_thresholds(head: str, x: np.ndarray, y: list[str], fitted: Head) -> dict[str, Threshold]:
    """find / sure per label of the head, from 5-fold out-of-fold scores on the training rows."""
    from sklearn.model_selection import StratifiedKFold

    classes = HEADS[head][1]
    c = fitted.c
    oof = np.zeros((len(y), len(classes)))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    for tr, te in folds.split(x, y):
        oof[te] = fit_head(head, x[tr], [y[i] for i in tr], c=c).proba(x[te])
    kind = "conduct" if head == "conduct" else "other"
    out: dict[str, Threshold] = {}
    for label in _positive_labels(head):
        s, truth = oof[:, classes.index(label)], np.array([v == label for v in y])
        floor = FLOOR.get(head, DEFAULT_FLOOR)
        find = next((t for t in GRID if t >= floor and _precision_at(s, truth, t)[0] >= FIND_PRECISION[kind]), 0.95)
        sure = next((t for t in GRID if t >= find and _precision_at(s, truth, t)[0] >= SURE_PRECISION[kind]), 0.99)
        out[label] = Threshold(float(find), float(max(sure, find)))
    return out


def train(rows: list[Row], x: np.ndarray, encoder: str, prefix: str) -> Heads:
    train_idx = [i for i, r in enumerate(rows) if not r.held_out]
    xs, roles, labels = x[train_idx], [rows[i].role for i in train_idx], [rows[i].label for i in train_idx]
    heads, thresholds = {}, {}
    for name in HEADS:
        idx, y = head_targets(name, roles, labels)
        heads[name] = fit_head(name, xs[idx], y)
        thresholds.update(choose_thresholds(name, xs[idx], y, heads[name]))
    return Heads(encoder=encoder, heads=heads, thresholds=thresholds, prefix=prefix)


def evaluate(rows: list[Row], x: np.ndarray, heads: Heads) -> list[tuple[str, str, int, int, int, int, float, float]]:
    """Per language and label on the held-out rows: support, found, right, right-when-sure, P, R."""
    table = []
    for lang in ("zh", "en"):
        for role in ("agent", "customer"):
            idx = [i for i, r in enumerate(rows) if r.held_out and r.lang == lang and r.role == role]
            scores = heads.scores(x[idx], "agent" if role == "agent" else "customer")
            for head, (spk, _classes) in HEADS.items():
                if spk != role:
                    continue
                for label in _positive_labels(head):
                    th = heads.thresholds[label]
                    truth = np.array([rows[i].label == label for i in idx])
                    s = np.array([d[label] for d in scores])
                    found, sure = s >= th.find, s >= th.sure
                    tp = int((found & truth).sum())
                    p = tp / found.sum() if found.any() else float("nan")
                    r = tp / truth.sum() if truth.any() else float("nan")
                    table.append((lang, label, int(truth.sum()), int(found.sum()), tp, int((sure & truth).sum()),
                                  p, r))
                if head == "conduct":
                    # Any conduct finding against any misconduct: what an agent's scorecard feels.
                    truth = np.array([rows[i].label in CONDUCT for i in idx])
                    found = np.array([any(d[c] >= heads.thresholds[c].find for c in CONDUCT) for d in scores])
                    sure = np.array([any(d[c] >= heads.thresholds[c].sure for c in CONDUCT) for d in scores])
                    tp = int((found & truth).sum())
                    table.append((lang, "any conduct", int(truth.sum()), int(found.sum()), tp,
                                  int((sure & truth).sum()), tp / found.sum() if found.any() else float("nan"),
                                  tp / truth.sum() if truth.any() else float("nan")))
    return table


def false_conduct(rows: list[Row], x: np.ndarray, heads: Heads) -> dict[str, tuple[int, int, list[str]]]:
    """Held-out polite agent utterances (no conduct label) that got a conduct finding, per language."""
    out = {}
    for lang in ("zh", "en"):
        idx = [i for i, r in enumerate(rows) if r.held_out and r.lang == lang and r.role == "agent"
               and r.label not in CONDUCT]
        scores = heads.scores(x[idx], "agent")
        bad = [rows[i].text for i, d in zip(idx, scores, strict=True)
               if any(d[c] >= heads.thresholds[c].find for c in CONDUCT)]
        out[lang] = (len(bad), len(idx), bad)
    return out


def _embeddings(encoder, texts: list[str]) -> np.ndarray:
    """The set's vectors, kept between runs in a cache keyed by the encoder and the texts."""
    import hashlib
    import os

    key = hashlib.sha256("\n".join([encoder.name, *texts]).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("QA_MODEL_CACHE", Path.home() / ".cache" / "qa-engine")) / f"semantic-{key}.npy"
    if cache.is_file():
        return np.load(cache)
    x = encoder.encode(texts)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, x)
    return x


def timing(encoder, texts: list[str]) -> tuple[float, float]:
    """ms per utterance: one at a time, and a call's utterances in one batch (40)."""
    sample = texts[:40]
    t0 = time.perf_counter()
    for t in sample:
        encoder.encode([t])
    one = (time.perf_counter() - t0) / len(sample) * 1000
    t0 = time.perf_counter()
    encoder.encode(sample)
    batch = (time.perf_counter() - t0) / len(sample) * 1000
    return one, batch


def markdown(name: str, table, fc, ms: tuple[float, float], counts: str) -> str:
    lines = [f"### {name}", "", counts, "",
             f"Encoding on one thread: {ms[0]:.1f} ms an utterance alone, {ms[1]:.1f} ms in a batch of 40.", "",
             "| lang | label | held-out | found | right | right & sure | precision | recall |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for lang, label, n, found, tp, sure_tp, p, r in table:
        lines.append(f"| {lang} | {label} | {n} | {found} | {tp} | {sure_tp} | {_f(p)} | {_f(r)} |")
    lines.append("")
    for lang, (bad, total, texts) in fc.items():
        lines.append(f"False conduct findings on held-out polite agent utterances ({lang}): {bad} of {total}"
                     + (f": {'; '.join(texts)}" if texts else ""))
    lines.append("")
    return "\n".join(lines)


def _f(v: float) -> str:
    return "–" if v != v else f"{v:.2f}"


def summary(table) -> str:
    """Micro-averaged precision and recall over the conduct labels and over the emotions, per language."""
    out = []
    for lang in ("zh", "en"):
        for group, labels in (("conduct", CONDUCT), ("emotion", ("angry", "frustrated", "anxious", "satisfied"))):
            rows = [t for t in table if t[0] == lang and t[1] in labels]
            found, tp, n = sum(t[3] for t in rows), sum(t[4] for t in rows), sum(t[2] for t in rows)
            out.append(f"{lang} {group}: P {tp / found if found else float('nan'):.2f} R {tp / n:.2f}")
    return "; ".join(out)


def update_manifest(name: str, heads_file: Path) -> None:
    path = models_manifest()
    text = path.read_text(encoding="utf-8")
    pat = re.compile(rf"(heads: \{{file: {re.escape(heads_file.name)}, sha256: )[0-9a-fnoe]+(\}})")
    if not pat.search(text):
        raise SystemExit(f"{path}: no heads entry for {heads_file.name}")
    path.write_text(pat.sub(rf"\g<1>{sha256_of(heads_file)}\g<2>", text), encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--encoder", action="append", help="manifest name or transformers folder (repeatable); "
                    "default: every packaged encoder")
    ap.add_argument("--prefix", default="", help="text put before each utterance (a transformers folder)")
    ap.add_argument("--write", action="store_true", help="write the heads (and their checksums, results file)")
    args = ap.parse_args()
    names = args.encoder or ["use-multilingual-v3", "e5-small-q4"]
    rows = read_set()
    held = sum(r.held_out for r in rows)
    counts = (f"{len(rows)} labelled utterances ({sum(r.lang == 'zh' for r in rows)} zh, "
              f"{sum(r.lang == 'en' for r in rows)} en); {len(rows) - held} train, {held} held out.")
    sections = []
    for name in names:
        encoder, heads_path = load_encoder(name)
        prefix = args.prefix if Path(name).is_dir() else ""
        x = _embeddings(encoder, [prefix + r.text for r in rows])
        heads = train(rows, x, encoder.name, prefix)
        table = evaluate(rows, x, heads)
        fc = false_conduct(rows, x, heads)
        ms = timing(encoder, [prefix + r.text for r in rows])
        md = markdown(name, table, fc, ms, counts)
        print(md)
        print("summary:", summary(table))
        print("thresholds:", {k: t.to_list() for k, t in heads.thresholds.items()})
        sections.append(md + f"\nSummary (micro-averaged): {summary(table)}.\n\nThresholds (find, sure): "
                        + ", ".join(f"{k} {t.to_list()}" for k, t in sorted(heads.thresholds.items())) + "\n")
        if args.write:
            heads.save(heads_path)
            if not Path(name).is_dir():
                update_manifest(name, heads_path)
            print(f"wrote {heads_path}")
    if args.write and not any(Path(n).is_dir() for n in names):
        head = RESULTS.read_text(encoding="utf-8").split("## Figures")[0] if RESULTS.is_file() else ""
        RESULTS.write_text((head or "# Semantic heads: held-out precision and recall\n\n") + "## Figures\n\n"
                           + "\n".join(sections), encoding="utf-8")
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
