#!/usr/bin/env python3
"""Train the "who says this" head for mono calls: agent or customer, from what a stretch of speech says.

A logistic regression on the default semantic encoder's sentence embeddings (Universal Sentence
Encoder multilingual v3), fitted on the labelled utterances the project keeps for the semantic
layer (benchmarks/semantic/utterances_{zh,en}.tsv, their `role` column; none of the shared
calls). Five-fold accuracy is printed; with --write the head goes to
qa_engine/semantic/heads/role-use-multilingual-v3.npz and its SHA-256 into models/manifest.yaml.

    python benchmarks/speakers/train_role_head.py [--write]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from qa_engine.asr.models import sha256_of  # noqa: E402
from qa_engine.paths import models_manifest  # noqa: E402
from qa_engine.semantic.models import load_encoder  # noqa: E402
from qa_engine.speakers import ROLE_ENCODER, role_head_path  # noqa: E402

SETS = [ROOT / "benchmarks" / "semantic" / f"utterances_{lang}.tsv" for lang in ("zh", "en")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    texts, agent = [], []
    for path in SETS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            role, _label, text = line.split("\t")[:3]
            texts.append(text)
            agent.append(role == "agent")
    encoder, _ = load_encoder(ROLE_ENCODER)
    x, y = encoder.encode(texts), np.array(agent)
    # Balanced: a call has both parties, whatever the share of agent lines in the set.
    clf = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
    print(f"{len(texts)} utterances ({int(y.sum())} agent); 5-fold accuracy "
          f"{cross_val_score(clf, x, y, cv=5).mean():.3f}")
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
