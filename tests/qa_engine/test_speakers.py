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


def _forbidden_call(make_context, attribution: float, review: str = ""):
    """An inbound call where an 'agent' turn says 我不知道: the agent's, or the customer's put in an agent turn."""
    ctx = make_context("zh", [
        {"speaker": "agent", "text": "您好，很高兴为您服务，请问有什么可以帮您？"},
        {"speaker": "customer", "text": "我想修改一下我的收货地址。"},
        {"speaker": "agent", "text": "我不知道", "attribution": attribution},
        {"speaker": "agent", "text": "好的，我帮您修改一下，请您提供新的地址。"},
        {"speaker": "customer", "text": "好的，谢谢。"},
        {"speaker": "agent", "text": "感谢您的来电，祝您生活愉快，再见。"},
    ])
    ctx.attribution_review = review
    return ctx


def test_words_of_an_uncertain_party_go_to_review_and_never_fail_the_call_fatally(make_context):
    from qa_engine.scoring.rubric import load
    from qa_engine.scoring.scorecard import build_scorecard

    rubric = load("zh_callcenter")
    sure, _ = build_scorecard(rubric, _forbidden_call(make_context, attribution=1.0))
    forbidden = next(i for i in sure.items if i.id == "forbidden_phrases")
    assert forbidden.status == "fail" and sure.fatal  # the agent's own brush-off is fatal

    unsure, events = build_scorecard(rubric, _forbidden_call(
        make_context, attribution=0.2, review="the two voices are too alike: check who said what"))
    forbidden = next(i for i in unsure.items if i.id == "forbidden_phrases")
    assert forbidden.status == "needs_review"
    assert "who said it is uncertain" in forbidden.detail
    assert not unsure.fatal and "fatal" not in unsure.flags
    assert "needs_review" in unsure.flags
    assert any(e.type == "speaker_attribution" and "too alike" in (e.detail or "") for e in events)
