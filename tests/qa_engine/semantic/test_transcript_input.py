"""A transcript through the pipeline's last stages is labelled like a recording: held-out lines, both ways."""

from __future__ import annotations

import json

from qa_engine.pipeline import AnalysisOptions, analyze_transcript
from qa_engine.rescore import rescore
from qa_engine.scoring.rubric import load
from qa_engine.transcript import parse_transcript


def _call(lang: str, lines: list[tuple[str, str]]) -> dict:
    turns, t = [], 0.5
    for speaker, text in lines:
        turns.append({"speaker": speaker, "start": t, "end": t + 3.0, "text": text})
        t += 3.5
    return {"lang": lang, "turns": turns}


def test_a_reworded_brush_off_in_a_transcript_is_found_and_survives_a_rescore() -> None:
    transcript = parse_transcript(_call("zh", [
        ("agent", "您好，很高兴为您服务，请问有什么可以帮您？"),
        ("customer", "我的退款怎么还没到账？钱被扣了都没人给个说法，我非常生气！"),
        ("agent", "这事儿跟我们没关系，你问别人去吧"),
    ]))
    result = analyze_transcript(transcript, AnalysisOptions())
    d = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert "semantic" in d["call"]["timings"]
    conduct = [e for e in d["events"] if e["type"] == "agent_conduct"]
    assert [(e["label"], e["text"]) for e in conduct] == [("dismissive", "这事儿跟我们没关系，你问别人去吧")]
    assert d["call"]["semantic"]["emotion"]["start"] == "angry"
    card, events = rescore(d, load("zh_callcenter"))
    assert card.to_dict() == d["scorecard"] and [e.to_dict() for e in events] == d["events"]


def test_a_polite_transfer_in_a_transcript_is_not_misconduct() -> None:
    transcript = parse_transcript(_call("en", [
        ("agent", "Thank you for calling, this is Sam, how can I help you today?"),
        ("customer", "I need to dispute a charge on my card."),
        ("agent", "Disputes are handled by our card services team, I'll transfer you now, please hold."),
        ("agent", "I'm not sure how long it takes, let me check that for you."),
    ]))
    d = analyze_transcript(transcript, AnalysisOptions()).to_dict()
    assert not [e for e in d["events"] if e["type"] == "agent_conduct"]
    assert next(i for i in d["scorecard"]["items"] if i["id"] == "conduct")["status"] == "pass"
