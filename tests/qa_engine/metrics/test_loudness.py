"""Levels in dBFS: reference signals, and real turns against their labelled level."""

from __future__ import annotations

import numpy as np
import pytest

from qa_engine.metrics.loudness import FLOOR_DBFS, dbfs
from qa_engine.types import SAMPLE_RATE
from tests.conftest import overlap_s


def test_reference_levels():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    assert dbfs(np.sin(2 * np.pi * 440 * t)) == pytest.approx(-3.01, abs=0.05)
    assert dbfs(0.1 * np.sign(np.sin(2 * np.pi * 440 * t))) == pytest.approx(-20.0, abs=0.05)
    assert dbfs(np.zeros(100)) == FLOOR_DBFS
    assert dbfs(np.zeros(0)) == FLOOR_DBFS


@pytest.mark.parametrize("call_id", ["zh_loud_and_quiet", "zh_interrupting_agent"])
def test_turn_levels_within_3_db_of_labels(call_id, analysed, labels):
    result = analysed(call_id)
    checked = 0
    for lt in labels(call_id)["turns"]:
        if lt["end"] - lt["start"] < 1.0:
            continue
        utts = [u for t in result.turns if t.speaker == lt["speaker"] for u in t.utterances]
        best = max(utts, key=lambda u: overlap_s(u.start, u.end, lt["start"], lt["end"]))
        ov = overlap_s(best.start, best.end, lt["start"], lt["end"])
        if ov < 0.8 * (best.end - best.start):
            continue  # an utterance that spans two labelled turns has no single labelled level
        assert best.level_dbfs == pytest.approx(lt["rms_dbfs"], abs=3.0), lt["text"]
        checked += 1
    assert checked >= 4


def test_loud_and_quiet_turns_are_the_labelled_ones(analysed, labels):
    # The labels' turn indices are not consistent between calls; the applied gain says which is which.
    agent_labels = [t for t in labels("zh_loud_and_quiet")["turns"] if t["speaker"] == "agent"]
    loud = [t for t in agent_labels if t["gain_db"] >= 6]
    quiet = [t for t in agent_labels if t["gain_db"] <= -10]
    assert loud and quiet
    events = analysed("zh_loud_and_quiet").events
    for kind, turns in (("loud", loud), ("quiet", quiet)):
        for lt in turns:
            assert any(e.type == kind and overlap_s(e.start, e.end, lt["start"], lt["end"]) > 0
                       for e in events), f"{kind} turn {lt['text']} not flagged"
    flagged = [e for e in events if e.type in ("loud", "quiet")]
    assert len(flagged) == len(loud) + len(quiet)
