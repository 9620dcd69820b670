"""The heads: stored and read back to the same scores; each label has its thresholds; bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest

from qa_engine.semantic.classifier import AGENT_LABELS, CUSTOMER_LABELS, Heads, fit_head


def test_heads_round_trip_gives_the_same_scores(semantic_model, tmp_path) -> None:
    x = semantic_model.encoder.encode(["你有完没完啊，烦不烦", "I'm so sorry about the wait"])
    path = tmp_path / "heads.npz"
    semantic_model.heads.save(path)
    again = Heads.load(path)
    for speaker in ("agent", "customer"):
        a, b = semantic_model.heads.scores(x, speaker), again.scores(x, speaker)
        assert a.keys() == b.keys() if isinstance(a, dict) else [d.keys() for d in a] == [d.keys() for d in b]
        for da, db in zip(a, b, strict=True):
            assert da == pytest.approx(db, abs=1e-5)
    assert again.thresholds == semantic_model.heads.thresholds


def test_every_label_has_thresholds_find_not_above_sure(semantic_model) -> None:
    th = semantic_model.heads.thresholds
    for label in [*AGENT_LABELS, *(c for c in CUSTOMER_LABELS if c != "neutral")]:
        assert 0.4 <= th[label].find <= th[label].sure <= 1.0, label  # 0.4: five emotions share a softmax


def test_scores_are_per_party(semantic_model) -> None:
    x = semantic_model.encoder.encode(["我要投诉你们"])
    assert set(semantic_model.heads.scores(x, "customer")[0]) == set(CUSTOMER_LABELS)
    assert set(semantic_model.heads.scores(x, "agent")[0]) == set(AGENT_LABELS)


def test_a_head_needs_every_class_in_its_training_rows() -> None:
    x = np.eye(4, 8)
    with pytest.raises(ValueError, match="lack a class"):
        fit_head("conduct", x, ["none", "none", "rude", "rude"])


def test_unreadable_heads_are_refused(tmp_path) -> None:
    from qa_engine.errors import ModelError
    from qa_engine.semantic.models import _read_heads

    bad = tmp_path / "heads.npz"
    bad.write_bytes(b"not a numpy archive")
    with pytest.raises(ModelError, match="not readable semantic heads"):
        _read_heads(bad)
