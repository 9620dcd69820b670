"""Speech regions on real audio: the VAD finds each labelled turn on its own channel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa_engine.audio import decode
from qa_engine.types import SAMPLE_RATE, SpeechRegion
from qa_engine.vad import clip, speech_regions, total_duration, union
from tests.conftest import overlap_s

CALLS = ["zh_interrupting_agent", "zh_loud_and_quiet", "en_rude_agent"]
ROOT_REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"


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


def test_speech_from_first_to_last_sample_is_found():
    # A clip cut tight around its speech has no quiet stretch to measure a noise floor on;
    # the energy gate in front of Silero must still let it through.
    audio = decode(ROOT_REAL / "zh" / "paddlespeech_zh.wav").channels[0]
    lead = speech_regions(audio)
    tight = audio[int(lead[0].start * SAMPLE_RATE): int(lead[-1].end * SAMPLE_RATE)]
    regions = speech_regions(tight)
    assert total_duration(regions) >= 0.8 * len(tight) / SAMPLE_RATE


def test_quiet_speech_far_under_the_other_turns_is_still_speech(call_path, labels):
    # zh_loud_and_quiet has an agent turn at about -46 dBFS next to turns at -12 and -27.
    lab = labels("zh_loud_and_quiet")
    quiet = min((t for t in lab["turns"] if t["speaker"] == "agent"), key=lambda t: t["rms_dbfs"])
    regions = speech_regions(decode(call_path("zh_loud_and_quiet")).channels[lab["channels"]["agent"]])
    found = sum(overlap_s(r.start, r.end, quiet["start"], quiet["end"]) for r in regions)
    assert found >= 0.8 * (quiet["end"] - quiet["start"])
