"""Re-score a stored analysis under another rubric, without decoding or transcribing again.

`CallAnalysis.to_dict()` keeps everything the detectors read: turns with their words,
utterances and measurements, the speech regions of each party, and the call metrics.
`rescore` rebuilds the detectors' view of the call from that JSON and fills the
rubric's scorecard, exactly as the pipeline would have.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from qa_engine.scoring.detectors import CallContext
from qa_engine.scoring.rubric import Rubric
from qa_engine.scoring.scorecard import build_scorecard
from qa_engine.types import (
    SPEAKERS,
    CallMetrics,
    Event,
    Scorecard,
    SemanticInfo,
    Speaker,
    SpeechRegion,
    Turn,
    Utterance,
    Word,
)


def turn_from_dict(d: dict[str, Any]) -> Turn:
    spk: Speaker = d["speaker"]
    words = [Word(text=w["text"], start=w["start"], end=w["end"], probability=w.get("probability", 1.0),
                  speaker=spk) for w in d.get("words", [])]
    utterances = [Utterance(start=u["start"], end=u["end"], text=u.get("text", ""), level_dbfs=u.get("level_dbfs"),
                            labels=dict(u.get("labels") or {}))
                  for u in d.get("utterances", [])]
    return Turn(speaker=spk, start=d["start"], end=d["end"], text=d["text"], words=words, utterances=utterances,
                rate_per_min=d.get("rate_per_min"), units=d.get("units", 0), level_dbfs=d.get("level_dbfs"),
                pitch_spread_st=d.get("pitch_spread_st"), pitch_median_hz=d.get("pitch_median_hz"),
                attribution=float(d.get("attribution", 1.0)))


def context_from_dict(result: dict[str, Any], language: str | None = None) -> CallContext:
    turns = [turn_from_dict(t) for t in result.get("turns", [])]
    speech = result.get("speech") or {}
    regions: dict[Speaker, list[SpeechRegion]] = {
        spk: [SpeechRegion(float(a), float(b)) for a, b in speech.get(spk, [])] for spk in SPEAKERS
    }
    if not speech:
        # Analyses stored before speech regions were kept: the turns' utterances stand in for them.
        for t in turns:
            spans = [(u.start, u.end) for u in t.utterances] or [(t.start, t.end)]
            regions[t.speaker] += [SpeechRegion(a, b) for a, b in spans]
    names = {f.name for f in fields(CallMetrics)}
    metrics = CallMetrics(**{k: v for k, v in result.get("metrics", {}).items() if k in names})
    call = result.get("call", {})
    semantic = SemanticInfo.from_dict(call["semantic"]) if call.get("semantic") else None
    return CallContext(language=language or call.get("language") or "zh", turns=turns, regions=regions,
                       metrics=metrics, length_s=float(call.get("length_s") or metrics.length_s or 0.0),
                       audio=call.get("source", "audio") == "audio", semantic=semantic,
                       attribution_review=call.get("attribution_review", ""))


def rescore(result: dict[str, Any], rubric: Rubric) -> tuple[Scorecard, list[Event]]:
    """The scorecard and events of a stored analysis under `rubric`."""
    return build_scorecard(rubric, context_from_dict(result, language=result.get("call", {}).get("language")))
