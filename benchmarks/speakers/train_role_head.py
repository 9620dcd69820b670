#!/usr/bin/env python3
"""Train the "who says this" head for mono calls: agent or customer, from what a stretch of speech says.

A logistic regression on the sentence embeddings of the role encoder (`ROLE_ENCODER` of
qa_engine/speakers.py; `--encoder NAME` measures another semantic encoder of the manifest, e.g.
e5-small-q4, which embeds as a "query: "), fitted on utterances the project writes itself:
- the labelled utterances of the semantic layer (benchmarks/semantic/utterances_{zh,en}.tsv, their
  `role` column), mostly written sentences;
- the role lines written for this head (benchmarks/speakers/role_lines_{zh,en}.tsv): the call's
  structure (openings, the recording notice, identity checks, holds, what was done, closings; a
  customer's problem, short answers, numbers read out, "hello?" on picking up), written as a
  recogniser writes speech;
- each of those once more "as recognised": no punctuation, lower case, and one time in three a filler
  in front (um / uh / 嗯 / 那个), as Whisper leaves them on real calls;
- with `--heard`, each once more as the product hears it: spoken by the project's TTS at 8 kHz and recognised by
  Whisper base through the pipeline (benchmarks/speakers/role_lines_heard_{zh,en}.tsv, written by
  hear_role_lines.py), with the misheard words the head meets on calls (改迁 for 改签). Measured in round 14 of
  benchmarks/results_mono.md and not shipped: the head on main is trained without (four more agents found on the
  development calls, but fewer words right, and on the blind calls more turns marked sure that were wrong).
No line of the shared calls is trained on: with `--exclude-calls DIR` (default: the shared corpus when
present) every utterance within 0.8 (difflib ratio, letters and digits only) of a labelled turn of a
call there is left out, so the head is measured on those calls, never fitted to them.
Five-fold accuracy (grouped so an utterance and its "as recognised" copy fall in one fold) is printed,
overall and per language; with --write (role encoder only) the head goes to the file that
models/manifest.yaml names (speaker → campplus-cn-en → role_head) and its SHA-256 into the manifest.

    python benchmarks/speakers/train_role_head.py [--encoder NAME] [--heard] [--write] [--exclude-calls DIR]
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
import re
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_predict

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from qa_engine.asr.models import sha256_of  # noqa: E402
from qa_engine.paths import models_manifest  # noqa: E402
from qa_engine.semantic.models import load_encoder  # noqa: E402
from qa_engine.speakers import ROLE_ENCODER, role_head_path  # noqa: E402

LANGS = ("zh", "en")
SHARED_CALLS = Path("/work/shared/corpus/calls")
# Lines this alike (difflib ratio over letters and digits) are the same line written twice.
SAME_LINE = 0.8
FILLERS = {"zh": ["嗯", "那个", "呃", "就是"], "en": ["um", "uh", "so", "yeah"]}
_NOT_WORD = re.compile(r"[\W_]+")
_PUNCT = re.compile(r"[,.;:!?，。；：！？、“”\"（）()《》…—]")


def _norm(text: str) -> str:
    return _NOT_WORD.sub("", text.lower())


def as_recognised(text: str, lang: str, rng: random.Random) -> str:
    """The line as a recogniser might write it: no punctuation, lower case, sometimes a filler in front."""
    out = re.sub(r"\s+", " ", _PUNCT.sub(" ", text)).strip().lower()
    if rng.random() < 1 / 3:
        out = f"{rng.choice(FILLERS[lang])} {out}"
    return out


def read_lines(path: Path, role_col: int, text_col: int) -> list[tuple[str, bool]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        out.append((cols[text_col], cols[role_col] == "agent"))
    return out


def training_lines(lang: str) -> list[tuple[str, bool]]:
    """The lines of one language, each with whether it is the agent's: the semantic layer's labelled utterances and
    the role lines."""
    return (read_lines(ROOT / "benchmarks" / "semantic" / f"utterances_{lang}.tsv", 0, 2)
            + read_lines(ROOT / "benchmarks" / "speakers" / f"role_lines_{lang}.tsv", 0, 1))


def heard_path(lang: str) -> Path:
    """Where hear_role_lines.py keeps the lines of one language as Whisper heard them."""
    return ROOT / "benchmarks" / "speakers" / f"role_lines_heard_{lang}.tsv"


def heard_lines(path: Path) -> dict[str, str]:
    """Each line as Whisper heard it spoken (hear_role_lines.py), by the line as written; {} without the file."""
    if not path.is_file():
        return {}
    rows = (line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
    return {cols[0]: cols[1] for cols in rows if len(cols) == 2 and cols[1].strip()}


def call_lines(calls: Path | None) -> list[str]:
    if calls is None or not calls.is_dir():
        return []
    return [_norm(t["text"]) for f in sorted(calls.glob("*.labels.json"))
            for t in json.loads(f.read_text(encoding="utf-8"))["turns"]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default=ROLE_ENCODER, help=f"semantic encoder to embed with (default {ROLE_ENCODER})")
    ap.add_argument("--heard", action="store_true",
                    help="also train on each line as Whisper heard it spoken (role_lines_heard_*.tsv; not on main)")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--exclude-calls", type=Path, default=SHARED_CALLS if SHARED_CALLS.is_dir() else None)
    args = ap.parse_args()
    if args.write and args.encoder != ROLE_ENCODER:
        ap.error(f"--write trains the head role_logodds reads, on ROLE_ENCODER ({ROLE_ENCODER}); "
                 "set ROLE_ENCODER in qa_engine/speakers.py to change it")
    held_back = call_lines(args.exclude_calls)
    rng = random.Random(0)
    texts: list[str] = []
    agent: list[bool] = []
    groups: list[int] = []
    langs: list[str] = []
    left_out = 0
    for lang in LANGS:
        heard = heard_lines(heard_path(lang)) if args.heard else {}
        for text, is_agent in training_lines(lang):
            norm = _norm(text)
            if any(difflib.SequenceMatcher(None, norm, c).ratio() >= SAME_LINE for c in held_back):
                left_out += 1
                continue
            line_id = len(set(groups))
            spoken = [heard[text]] if text in heard else []
            for variant in dict.fromkeys([text, as_recognised(text, lang, rng), *spoken]):
                texts.append(variant)
                agent.append(is_agent)
                groups.append(line_id)
                langs.append(lang)
    encoder, _ = load_encoder(args.encoder)
    x, y = encoder.encode(texts), np.array(agent)
    # Balanced: a call has both parties, whatever the share of agent lines in the set.
    clf = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
    folds = GroupKFold(n_splits=5)
    right = cross_val_predict(clf, x, y, groups=groups, cv=folds) == y
    by_lang = "; ".join(f"{lang} {right[[g == lang for g in langs]].mean():.3f}" for lang in LANGS)
    print(f"{len(texts)} utterances ({int(y.sum())} agent; {left_out} lines left out as alike to the shared "
          f"calls'); {args.encoder}: 5-fold accuracy {right.mean():.3f} ({by_lang})")
    if args.write:
        clf.fit(x, y)
        path = role_head_path()
        np.savez(path, coef=clf.coef_[0].astype(np.float32), intercept=np.float32(clf.intercept_[0]))
        digest = sha256_of(path)
        manifest = models_manifest()
        text = manifest.read_text(encoding="utf-8")
        manifest.write_text(re.sub(r"(role_head: \{file: [^,]+, sha256: )[0-9a-f]*\}", rf"\g<1>{digest}}}", text),
                            encoding="utf-8")
        print(f"wrote {path.name} ({digest[:12]}…)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
