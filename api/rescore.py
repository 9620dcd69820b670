"""Re-score a stored analysis under another rubric, without decoding or transcribing again.

The engine's JSON keeps turns (with words, rate, level, pitch) and call metrics, which is
everything the detectors read except the VAD speech regions; those are rebuilt from the
word (else turn) spans. Candidate for a helper in qa_engine (e.g. `rescore(result_dict, rubric)`).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from qa_engine.scoring.detectors import CallContext
from qa_engine.scoring.rubric import Rubric
from qa_engine.scoring.scorecard import build_scorecard
from qa_engine.types import CallMetrics, Speaker, SpeechRegion, Turn, Word


def _turn(d: dict[str, Any]) -> Turn:
    spk: Speaker = d["speaker"]
    words = [Word(text=w["text"], start=w["start"], end=w["end"], probability=w.get("probability", 1.0),
                  speaker=spk) for w in d.get("words", [])]
    return Turn(speaker=spk, start=d["start"], end=d["end"], text=d["text"], words=words,
                rate_per_min=d.get("rate_per_min"), units=d.get("units", 0), level_dbfs=d.get("level_dbfs"),
                pitch_spread_st=d.get("pitch_spread_st"), pitch_median_hz=d.get("pitch_median_hz"))


def _regions(turns: list[Turn]) -> dict[Speaker, list[SpeechRegion]]:
    out: dict[Speaker, list[SpeechRegion]] = {"agent": [], "customer": []}
    for t in turns:
        spans = [(w.start, w.end) for w in t.words] or [(t.start, t.end)]
        for s, e in spans:
            regs = out[t.speaker]
            if regs and s - regs[-1].end < 0.3:
                regs[-1] = SpeechRegion(regs[-1].start, max(regs[-1].end, e))
            else:
                regs.append(SpeechRegion(s, e))
    for spk in out:
        out[spk].sort(key=lambda r: r.start)
    return out


def rescore_scorecard(rubric: Rubric, call_info: dict[str, Any], metrics: dict[str, Any],
                      turns: list[dict[str, Any]]) -> dict[str, Any]:
    tlist = [_turn(t) for t in turns]
    names = {f.name for f in fields(CallMetrics)}
    cm = CallMetrics(**{k: v for k, v in metrics.items() if k in names})
    ctx = CallContext(language=call_info.get("language") or rubric.language, turns=tlist,
                      regions=_regions(tlist), metrics=cm, length_s=float(call_info.get("length_s") or 0.0))
    card, events = build_scorecard(rubric, ctx)
    return {"scorecard": card.to_dict(), "events": [e.to_dict() for e in events]}
