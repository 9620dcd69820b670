"""Transcripts as input: the reader's checks, and a transcript through the pipeline's last stages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qa_engine.errors import TranscriptError
from qa_engine.pipeline import AnalysisOptions, analyze_transcript
from qa_engine.transcript import loads_transcript, parse_transcript, read_transcript
from tests.conftest import call_labels


def labelled_transcript(call_id: str) -> dict[str, Any]:
    """What was said in a labelled fixture call, as a transcript made elsewhere would give it."""
    lab = call_labels(call_id)
    return {"lang": lab["lang"], "turns": [{k: t[k] for k in ("speaker", "start", "end", "text")}
                                           for t in lab["turns"]]}


def _items(result) -> dict[str, Any]:
    return {i.id: i for i in result.scorecard.items}


def test_reader_keeps_the_turns_in_time_order():
    t = parse_transcript({"lang": "en", "turns": [
        {"speaker": "customer", "start": 3, "end": 4.5, "text": "  Hi, my bill is wrong. "},
        {"speaker": "agent", "start": 0.5, "end": 2.0, "text": "Thank you for calling."}]})
    assert t.language == "en"
    assert [(x.speaker, x.start, x.text) for x in t.turns] == [
        ("agent", 0.5, "Thank you for calling."), ("customer", 3.0, "Hi, my bill is wrong.")]
    assert t.length_s == 4.5


def _turn(**changes: Any) -> dict[str, Any]:
    return {"speaker": "agent", "start": 1.0, "end": 2.0, "text": "您好", **changes}


BAD: dict[str, tuple[bytes, str]] = {
    "empty file": (b"", "not valid JSON: Expecting value (line 1, column 1)"),
    "not json": (b"speaker,start,end,text\n", "not valid JSON"),
    "not utf-8": ("您好".encode("gb18030"), "not UTF-8 text"),
    "a list": (b"[1, 2]", "a transcript is a JSON object"),
    "no turns key": (b'{"lang": "zh"}', "turns: missing"),
    "no turns": (b'{"lang": "zh", "turns": []}', "turns: no turns"),
    "bad speaker": (json.dumps({"turns": [_turn(speaker="robot")]}).encode(),
                    "turns[0].speaker: must be 'agent' or 'customer', got \"robot\""),
    "text time": (json.dumps({"turns": [_turn(), _turn(start="00:01")]}).encode(),
                  'turns[1].start: must be a number of seconds, got "00:01"'),
    "nan": (b'{"turns": [{"speaker": "agent", "start": NaN, "end": 2, "text": "x"}]}', "NaN is not a number"),
    "negative": (json.dumps({"turns": [_turn(start=-1)]}).encode(), "turns[0].start"),
    "backwards": (json.dumps({"turns": [_turn(start=5, end=2)]}).encode(),
                  "turns[0]: ends (2 s) before it starts (5 s)"),
    "empty text": (json.dumps({"turns": [_turn(text="  ")]}).encode(), "turns[0]: text is empty"),
    "unknown field": (json.dumps({"turns": [_turn(confidence=0.9)]}).encode(), "turns[0].confidence: unknown field"),
    "bad lang": (json.dumps({"lang": "fr", "turns": [_turn()]}).encode(), "lang: must be 'zh' or 'en'"),
    "too long": (json.dumps({"turns": [_turn(end=50000)]}).encode(), "longer than the 10800 s"),
    "nested": (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    "too much text": (json.dumps({"turns": [_turn(start=i, end=i + 1, text="好" * 15_000) for i in range(15)]},
                                 ensure_ascii=False).encode(), "225000 characters of text is more than"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_transcripts_are_refused_with_what_is_wrong(case):
    raw, message = BAD[case]
    with pytest.raises(TranscriptError) as info:
        loads_transcript(raw, "call.json")
    assert str(info.value).startswith("call.json: ")
    assert message in str(info.value)


def test_reader_refuses_a_missing_file_and_a_folder(tmp_path):
    with pytest.raises(TranscriptError, match="no such file"):
        read_transcript(tmp_path / "missing.json")
    with pytest.raises(TranscriptError, match="not a file"):
        read_transcript(tmp_path)


def test_fast_pitch_transcript_through_the_pipeline_stages():
    result = analyze_transcript(parse_transcript(labelled_transcript("zh_fast_talker")))
    items = _items(result)
    # The same detectors and rubric as the recording: the 12-second pitch at ~500 chars/min fails the rate item.
    assert items["speech_rate"].status == "fail" and items["speech_rate"].score == 0
    assert items["greeting"].status == "pass" and items["closing"].status == "pass"
    assert items["answer_delay"].status == "pass" and items["answer_delay"].value == pytest.approx(0.8)
    # Volume and intonation need the sound: neither passed nor failed, and outside the machine's maximum.
    for item_id in ("volume", "intonation"):
        assert items[item_id].status == "not_applicable" and items[item_id].score is None
    unscored = sum(i.max for i in result.scorecard.items if i.status in ("manual", "not_applicable"))
    assert result.scorecard.total == pytest.approx(sum(i.score or 0 for i in result.scorecard.items))
    pass_mark = result.scorecard.pass_score * (result.scorecard.max - unscored) / result.scorecard.max
    assert result.scorecard.passed is (result.scorecard.total >= pass_mark)
    assert not [e for e in result.events if e.type in ("loud", "quiet", "monotone")]
    d = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert d["call"]["source"] == "transcript" and d["call"]["language"] == "zh"
    assert d["call"]["language_source"] == "transcript"
    assert set(d) == {"call", "metrics", "turns", "events", "scorecard", "speech"}


def test_consecutive_segments_of_a_party_join_into_one_turn_as_speech_does():
    t = parse_transcript({"lang": "zh", "turns": [
        {"speaker": "agent", "start": 0.5, "end": 3.0, "text": "您好，很高兴为您服务。"},
        {"speaker": "agent", "start": 3.4, "end": 5.5, "text": "请问有什么可以帮您？"},
        {"speaker": "customer", "start": 6.0, "end": 8.0, "text": "我想查一下话费。"},
        {"speaker": "agent", "start": 8.5, "end": 9.5, "text": "好的。"}]})
    result = analyze_transcript(t)
    assert [(x.speaker, x.start, x.end, x.text, len(x.utterances)) for x in result.turns] == [
        ("agent", 0.5, 5.5, "您好，很高兴为您服务。请问有什么可以帮您？", 2),
        ("customer", 6.0, 8.0, "我想查一下话费。", 1),
        ("agent", 8.5, 9.5, "好的。", 1)]
    assert result.speech["agent"][1].start == 3.4  # each segment is speech, the pause between is not


def test_timing_items_use_the_turn_times():
    t = parse_transcript({"lang": "zh", "turns": [
        {"speaker": "customer", "start": 0.5, "end": 1.5, "text": "喂？"},
        {"speaker": "agent", "start": 5.0, "end": 9.0, "text": "您好，很高兴为您服务，请问有什么可以帮您？"},
        {"speaker": "customer", "start": 9.5, "end": 14.0, "text": "我的宽带又断了，你们什么时候来修？"},
        {"speaker": "agent", "start": 12.5, "end": 15.0, "text": "这个要等师傅排期。"},
        {"speaker": "agent", "start": 23.0, "end": 27.0, "text": "请问还有其他可以帮您的吗？再见。"}]})
    result = analyze_transcript(t, AnalysisOptions(connect_offset_s=0.5, ring_s=4.0))
    items = _items(result)
    assert result.metrics.answer_delay_s == pytest.approx(4.5) and result.metrics.ring_s == 4.0
    assert items["answer_delay"].status == "fail"
    (interruption,) = [e for e in result.events if e.type == "interruption"]
    assert interruption.start == 12.5 and interruption.value == pytest.approx(1.5)
    (dead,) = [e for e in result.events if e.type == "dead_air"]
    assert (dead.start, dead.end) == (15.0, 23.0)


def test_the_language_comes_from_the_transcript_or_the_caller():
    bare = parse_transcript({"turns": [{"speaker": "agent", "start": 0.5, "end": 3.0,
                                        "text": "Thank you for calling, how can I help?"}]})
    with pytest.raises(TranscriptError, match="names no language"):
        analyze_transcript(bare)
    result = analyze_transcript(bare, AnalysisOptions(language="en"))
    assert result.call.language == "en" and result.call.language_source == "metadata"
    assert result.scorecard.rubric == "en_callcenter"


def test_rescore_of_a_stored_transcript_analysis_keeps_not_applicable():
    from qa_engine.rescore import rescore
    from qa_engine.scoring.rubric import load

    result = analyze_transcript(parse_transcript(labelled_transcript("zh_fast_talker")))
    stored = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    card, events = rescore(stored, load("zh_callcenter"))
    assert card.to_dict() == stored["scorecard"]
    assert [e.to_dict() for e in events] == stored["events"]
