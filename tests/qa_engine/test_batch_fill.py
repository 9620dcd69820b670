"""Batches fill: with the ASR out of the way, the CPU front end alone decides how full they are.

The model's batched decode is replaced by a stand-in that answers at once (one word
per speech chunk, its text the name of the call the window was cut from), so the
scheduler's own policy is what is measured: 64 calls in flight must give batches
of 32 windows at least 80 % full on average, and every word must land in its own
call's transcript. Everything else is the real path: real recordings decoded, VAD,
features, turns, metrics, scorecards.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from qa_engine import AnalysisOptions, CallAnalysis
from qa_engine.asr.batching import Window
from qa_engine.batched import BatchedAnalyzer
from qa_engine.types import Word
from tests.conftest import CALLS

BATCH = 32
IN_FLIGHT = 64
COPIES = 10  # 13 fixture calls x 10: 130 calls, the first 64 at once and then as slots free


@pytest.fixture(scope="module")
def many_calls(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("many")
    paths = []
    for k in range(COPIES):
        for src in sorted(CALLS.glob("*.wav")):
            dst = folder / f"{k:02d}_{src.name}"
            shutil.copy(src, dst)
            paths.append(dst)
    return paths


@pytest.mark.parametrize("cpu_workers", [0, 2], ids=["cpu-stages-in-threads", "cpu-stages-in-2-processes"])
def test_64_calls_in_flight_fill_batches_of_32_and_every_word_comes_home(asr_model, many_calls, cpu_workers):
    emitted: Counter[str] = Counter()

    def answer_at_once(model, windows: list[Window], language, options, stats) -> list[list[Word]]:
        out = [[Word(w.call, c.start, c.end, 0.9, c.speaker) for c in w.chunks] for w in windows]
        for w, words in zip(windows, out, strict=True):
            emitted[w.call] += len(words)
        return out

    def options(path: Path) -> AnalysisOptions:
        return AnalysisOptions(language=path.name.split("_")[1])  # "07_zh_fast_talker.wav" -> zh

    with BatchedAnalyzer(batch_size=BATCH, decode=answer_at_once, cpu_workers=cpu_workers) as analyzer:
        results = dict(analyzer.analyze_many(many_calls, options, in_flight=IN_FLIGHT))
        stats = analyzer.stats

    assert sorted(results) == sorted(many_calls)
    assert all(isinstance(r, CallAnalysis) for r in results.values()), \
        {p.name: r for p, r in results.items() if not isinstance(r, CallAnalysis)}
    for path, result in results.items():
        assert isinstance(result, CallAnalysis)
        words = [w.text for t in result.turns for w in t.words]
        assert set(words) == {path.name}, f"{path.name} got words of {set(words) - {path.name}}"
        assert len(words) == emitted[path.name] > 0
    assert stats.windows > 4 * BATCH  # enough windows for a steady state, not one flood
    print(f"cpu_workers={cpu_workers}: {stats.batches} batches, {stats.windows} windows, mean {stats.mean_batch:.1f}")
    assert stats.mean_batch >= 0.8 * BATCH, (
        f"{stats.batches} batches of {stats.windows} windows: mean {stats.mean_batch:.1f}")
