"""Speech regions on real audio: the VAD finds each labelled turn on its own channel."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import overlap_s

from qa_engine.audio import decode
from qa_engine.types import SAMPLE_RATE, SpeechRegion
from qa_engine.vad import clip, speech_regions, total_duration, union

CALLS = ["zh_interrupting_agent", "zh_loud_and_quiet", "en_rude_agent"]


@pytest.mark.parametrize("call_id", CALLS)
def test_every_labelled_turn_is_found_on_its_channel(call_id, call_path, labels):
    lab = labels(call_id)
    audio = decode(call_path(call_id))
    regions = {spk: speech_regions(audio.channels[ch]) for spk, ch in lab["channels"].items()}
    for turn in lab["turns"]:
        found = sum(overlap_s(r.start, r.end, turn["start"], turn["end"]) for r in regions[turn["speaker"]])
        assert found >= 0.8 * (turn["end"] - turn["start"]), f"turn not found as speech: {turn['text']}"


@pytest.mark.parametrize("call_id", CALLS)
def test_no_speech_found_where_nobody_speaks(call_id, call_path, labels):
    lab = labels(call_id)
    audio = decode(call_path(call_id))
    for spk, ch in lab["channels"].items():
        own = [t for t in lab["turns"] if t["speaker"] == spk]
        for r in speech_regions(audio.channels[ch]):
            inside = sum(overlap_s(r.start, r.end, t["start"] - 0.3, t["end"] + 0.3) for t in own)
            assert inside >= 0.9 * r.duration, f"{spk} region {r} lies outside the {spk}'s turns"


def test_noise_floor_alone_is_not_speech():
    rng = np.random.default_rng(1)
    noise = (rng.standard_normal(SAMPLE_RATE * 5) * 10 ** (-60 / 20)).astype(np.float32)
    assert speech_regions(noise) == []


def test_union_clip_and_total():
    a = [SpeechRegion(0.0, 2.0), SpeechRegion(5.0, 6.0)]
    b = [SpeechRegion(1.5, 3.0)]
    assert union(a, b) == [SpeechRegion(0.0, 3.0), SpeechRegion(5.0, 6.0)]
    assert total_duration(union(a, b)) == pytest.approx(4.0)
    assert clip(a, 1.0, 5.5) == [SpeechRegion(1.0, 2.0), SpeechRegion(5.0, 5.5)]
