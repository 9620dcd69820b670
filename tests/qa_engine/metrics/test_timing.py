"""Per-call timing: talk, silence, overlap, answer delay."""

from __future__ import annotations

import pytest

from qa_engine.metrics.timing import call_metrics
from qa_engine.types import SpeechRegion, Turn


def test_call_timing_from_regions_and_turns():
    regions = {"agent": [SpeechRegion(2.0, 5.0), SpeechRegion(9.0, 12.0)],
               "customer": [SpeechRegion(5.5, 9.5)]}
    turns = [Turn("agent", 2.0, 5.0, "您好"), Turn("customer", 5.5, 9.5, "我想问"),
             Turn("agent", 9.0, 12.0, "好的")]
    m = call_metrics(15.0, regions, turns)
    assert m.talk_s == {"agent": pytest.approx(6.0), "customer": pytest.approx(4.0)}
    assert m.talk_ratio["agent"] == pytest.approx(0.6)
    assert m.overlap_s == pytest.approx(0.5) and m.overlaps == 1
    assert m.silence_s == pytest.approx(15.0 - 9.5)  # speech: 2-5 and 5.5-12
    assert m.answer_delay_s == pytest.approx(2.0)
    assert call_metrics(15.0, regions, turns, connect_offset_s=1.5).answer_delay_s == pytest.approx(0.5)
    assert m.turns == 3


def test_agent_who_never_speaks_has_no_answer_delay():
    regions = {"agent": [], "customer": [SpeechRegion(1.0, 2.0)]}
    m = call_metrics(5.0, regions, [Turn("customer", 1.0, 2.0, "喂")])
    assert m.answer_delay_s is None


def test_real_call_timing_matches_labels(analysed, labels):
    lab = labels("zh_interrupting_agent")
    m = analysed("zh_interrupting_agent").metrics
    first_agent = min(t["start"] for t in lab["turns"] if t["speaker"] == "agent")
    assert m.answer_delay_s == pytest.approx(first_agent, abs=0.4)
    assert m.length_s == pytest.approx(lab["duration"], abs=0.05)
    assert m.overlaps >= lab["expect"]["agent_interruptions_min"]
    assert sum(m.talk_ratio.values()) == pytest.approx(1.0)


def test_ring_time_is_the_connect_offset_unless_given():
    regions = {"agent": [SpeechRegion(6.0, 8.0)], "customer": []}
    turns = [Turn("agent", 6.0, 8.0, "您好")]
    # The recording started 5 s before connect: those 5 s are ringing the customer heard.
    before = call_metrics(10.0, regions, turns, connect_offset_s=5.0)
    assert before.answer_delay_s == pytest.approx(1.0) and before.ring_s == pytest.approx(5.0)
    # The recording starts at connect: only the caller knows how long it rang.
    at_connect = call_metrics(10.0, regions, turns, ring_s=12.0)
    assert at_connect.answer_delay_s == pytest.approx(6.0) and at_connect.ring_s == pytest.approx(12.0)
    assert call_metrics(10.0, regions, turns).ring_s is None
