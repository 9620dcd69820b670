"""Words of both parties -> turns in time order, overlaps kept."""

from __future__ import annotations

from qa_engine.turns import build_turns, transcript_text
from qa_engine.types import SpeechRegion, Word
from tests.conftest import overlap_s


def _words(speaker: str, text: str, start: float, end: float) -> list[Word]:
    step = (end - start) / len(text)
    return [Word(ch, start + i * step, start + (i + 1) * step, 0.9, speaker) for i, ch in enumerate(text)]


def test_turns_interleave_both_parties_in_time_order_and_keep_overlaps():
    words = (_words("agent", "您好请问有什么可以帮您", 1.0, 4.0)
             + _words("customer", "我想问一下我的话费", 4.5, 8.0)
             + _words("agent", "好的我帮您查", 7.2, 9.0))
    regions = {"agent": [SpeechRegion(1.0, 4.0), SpeechRegion(7.2, 9.0)],
               "customer": [SpeechRegion(4.5, 8.0)]}
    turns = build_turns(words, regions, "zh")
    assert [t.speaker for t in turns] == ["agent", "customer", "agent"]
    assert [t.text for t in turns] == ["您好请问有什么可以帮您", "我想问一下我的话费", "好的我帮您查"]
    assert turns[2].start < turns[1].end, "the agent talking over the customer stays an overlap"


def test_short_pause_stays_inside_a_turn_long_pause_starts_a_new_one():
    words = [*_words("agent", "您好", 1.0, 2.0), *_words("agent", "请问", 2.5, 3.5),
             *_words("agent", "再见", 6.0, 7.0)]
    regions = {"agent": [SpeechRegion(1.0, 2.0), SpeechRegion(2.5, 3.5), SpeechRegion(6.0, 7.0)],
               "customer": []}
    turns = build_turns(words, regions, "zh")
    assert [t.text for t in turns] == ["您好请问", "再见"]
    assert len(turns[0].utterances) == 2


def test_reply_after_the_other_party_spoke_is_a_new_turn():
    words = (_words("customer", "可是业务员说免费", 1.0, 4.0) + _words("agent", "免费指的是功能费", 3.0, 4.6)
             + _words("customer", "那好吧", 5.0, 5.6))
    regions = {"customer": [SpeechRegion(1.0, 4.0), SpeechRegion(5.0, 5.6)],
               "agent": [SpeechRegion(3.0, 4.6)]}
    turns = build_turns(words, regions, "zh")
    assert [t.speaker for t in turns] == ["customer", "agent", "customer"]


def test_real_call_turns_in_time_order_with_labelled_overlaps(analysed, labels):
    result = analysed("zh_interrupting_agent")
    lab = labels("zh_interrupting_agent")
    starts = [t.start for t in result.turns]
    assert starts == sorted(starts)
    assert {t.speaker for t in result.turns} == {"agent", "customer"}
    # Each labelled case of the agent starting while the customer speaks is an overlap in the output.
    customers = [t for t in lab["turns"] if t["speaker"] == "customer"]
    interruptions = [t for t in lab["turns"] if t["speaker"] == "agent"
                     and any(c["start"] < t["start"] < c["end"] for c in customers)]
    assert len(interruptions) >= 2
    for lt in interruptions:
        agent_turn = max((t for t in result.turns if t.speaker == "agent"),
                         key=lambda t: overlap_s(t.start, t.end, lt["start"], lt["end"]))
        assert abs(agent_turn.start - lt["start"]) < 0.5
        assert any(c.start < agent_turn.start < c.end for c in result.turns if c.speaker == "customer")


def test_transcript_text_names_speakers_with_times():
    words = _words("agent", "您好", 1.0, 2.0)
    turns = build_turns(words, {"agent": [SpeechRegion(1.0, 2.0)], "customer": []}, "zh")
    line = transcript_text(turns, {"agent": "坐席"})
    assert "坐席: 您好" in line and "1.00" in line
