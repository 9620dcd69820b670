"""Which audio belongs to which party: stereo sides from metadata, mono mixes separated."""

from __future__ import annotations

import numpy as np
import pytest

from qa_engine.speakers import channel_of, is_dual_mono
from tests.conftest import overlap_s


def test_channel_of_reads_metadata():
    assert channel_of(None) == (0, "default (left channel)")
    assert channel_of("right")[0] == 1
    assert channel_of("L")[0] == 0
    assert channel_of(1)[0] == 1
    with pytest.raises(ValueError, match="left or right"):
        channel_of("middle")
    with pytest.raises(ValueError, match="0 \\(left\\) or 1 \\(right\\)"):
        channel_of(3)


def test_dual_mono_is_recognised_but_a_silent_side_is_still_stereo():
    rng = np.random.default_rng(0)
    voice = rng.standard_normal(16000).astype(np.float32)
    assert is_dual_mono(np.stack([voice, voice]))
    assert not is_dual_mono(np.stack([voice, np.zeros_like(voice)]))
    assert not is_dual_mono(np.stack([voice, rng.standard_normal(16000).astype(np.float32)]))


def _speaker_time(turns, start: float, end: float) -> dict[str, float]:
    out = {"agent": 0.0, "customer": 0.0}
    for t in turns:
        out[t.speaker] += overlap_s(t.start, t.end, start, end)
    return out


def test_mono_call_agent_identified(analysed, labels):
    result = analysed("zh_mono_good")
    lab = labels("zh_mono_good")
    assert result.call.channels == 1
    assert result.call.agent_channel is None
    assert result.call.agent_found_by.startswith("separation")
    # Over the whole call, most of the agent's labelled speech is attributed to the agent.
    agent = {"agent": 0.0, "customer": 0.0}
    for lt in (t for t in lab["turns"] if t["speaker"] == "agent"):
        for k, v in _speaker_time(result.turns, lt["start"], lt["end"]).items():
            agent[k] += v
    assert agent["agent"] > agent["customer"]


def test_mono_call_greeting_is_the_agents(analysed, labels):
    result = analysed("zh_mono_good")
    greeting = labels("zh_mono_good")["turns"][0]
    assert greeting["speaker"] == "agent"
    first = min(result.turns, key=lambda t: t.start)
    assert first.speaker == "agent"
    assert "您好" in first.text
    times = _speaker_time(result.turns, greeting["start"], greeting["end"])
    assert times["agent"] > times["customer"]


def test_mono_call_speech_time_goes_to_the_right_party(analysed, labels):
    result = analysed("zh_mono_good")
    right = wrong = 0.0
    for lt in labels("zh_mono_good")["turns"]:
        times = _speaker_time(result.turns, lt["start"], lt["end"])
        other = "customer" if lt["speaker"] == "agent" else "agent"
        right += times[lt["speaker"]]
        wrong += times[other]
    assert right / (right + wrong) >= 0.8
