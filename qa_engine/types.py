"""Typed values passed between the pipeline stages.

Every stage takes and returns these dataclasses, so each can be tested alone:
decode -> Track, vad -> SpeechRegion, asr -> Word, turns -> Turn,
metrics -> TurnMetrics / CallMetrics, detectors -> Event, scoring -> Scorecard.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast, get_args

import numpy as np

Speaker = Literal["agent", "customer"]
Direction = Literal["inbound", "outbound"]  # who placed the call: the customer (inbound) or the agent
SPEAKERS: tuple[Speaker, Speaker] = ("agent", "customer")


def as_direction(value: object) -> Direction | None:
    """`value` as a Direction; None when it is none (metadata comes from outside: anything else is unknown)."""
    return cast(Direction, value) if value in get_args(Direction) else None


SAMPLE_RATE = 16000  # every track is resampled to what Whisper expects
# Below this a turn's party (Turn.attribution) is uncertain: its words go to review, never fail the call alone.
# 0.8 is 9 to 1 (|log-odds| 2.2): a fatal finding asks for a party that sure, as the semantic findings ask 0.9.
ATTRIBUTION_SURE = 0.8


@dataclass
class Track:
    """One party's audio: float32 mono at SAMPLE_RATE."""

    speaker: Speaker
    samples: np.ndarray
    channel: int | None = None  # source channel, None when separated from a mono mix

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


@dataclass(frozen=True)
class SpeechRegion:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    probability: float
    speaker: Speaker


@dataclass
class Utterance:
    """Speech between two pauses inside a turn; the unit volume is judged on."""

    start: float
    end: float
    text: str
    level_dbfs: float | None = None
    labels: dict[str, float] = field(default_factory=dict)  # semantic label -> score 0-1 (qa_engine.semantic)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"start": round(self.start, 2), "end": round(self.end, 2), "text": self.text,
                             "level_dbfs": _round(self.level_dbfs, 2)}
        if self.labels:
            d["labels"] = {k: round(v, 3) for k, v in self.labels.items()}
        return d


@dataclass
class Turn:
    """Consecutive speech of one party; turns of both parties may overlap in time."""

    speaker: Speaker
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    utterances: list[Utterance] = field(default_factory=list)
    rate_per_min: float | None = None  # chars/min (zh) or words/min (en) over the turn's speech span
    units: int = 0
    level_dbfs: float | None = None
    pitch_spread_st: float | None = None  # semitones, spread of F0 within the turn
    pitch_median_hz: float | None = None
    # How sure it is that this party said the turn, 0-1: below 1 only in a mono mix separated with
    # doubt (qa_engine.speakers); below ATTRIBUTION_SURE its findings go to review.
    attribution: float = 1.0

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def min_confidence(self) -> float:
        return min((w.probability for w in self.words), default=1.0)

    @property
    def mean_confidence(self) -> float:
        return sum(w.probability for w in self.words) / len(self.words) if self.words else 1.0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "speaker": self.speaker,
            "start": round(self.start, 2),
            "end": round(self.end, 2),
            "text": self.text,
            "units": self.units,
            # As precise as the events' values, so a re-score from this JSON finds the same.
            "rate_per_min": _round(self.rate_per_min, 2),
            "level_dbfs": _round(self.level_dbfs, 2),
            "pitch_spread_st": _round(self.pitch_spread_st, 3),
            "pitch_median_hz": _round(self.pitch_median_hz, 1),
            "confidence": round(self.min_confidence, 3),
            "utterances": [u.to_dict() for u in self.utterances],
            "words": [
                {"text": w.text, "start": round(w.start, 2), "end": round(w.end, 2),
                 "probability": round(w.probability, 3)}
                for w in self.words
            ],
        }
        if self.attribution < 1.0:
            d["attribution"] = round(self.attribution, 3)
        return d


@dataclass
class Event:
    """One finding of a detector, with the evidence behind it."""

    type: str
    start: float
    end: float
    speaker: Speaker | None
    text: str | None = None  # the words quoted as evidence
    phrase: str | None = None  # the rubric phrase that matched, as written there
    value: float | None = None  # the measured number (rate, dB, seconds...)
    detail: str | None = None  # a short explanation for the inspector
    confidence: float = 1.0  # lowest ASR word probability behind the evidence
    label: str | None = None  # the semantic label behind the finding (agent_conduct, customer_emotion...)
    score: float | None = None  # the semantic model's score for that label, 0-1

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "type": self.type,
            "start": round(self.start, 2),
            "end": round(self.end, 2),
            "speaker": self.speaker,
        }
        for key in ("text", "phrase", "detail", "label"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.value is not None:
            d["value"] = round(self.value, 2)
        if self.score is not None:
            d["score"] = round(self.score, 3)
        d["confidence"] = round(self.confidence, 3)
        return d


@dataclass
class Evidence:
    start: float
    end: float
    speaker: Speaker | None
    text: str
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"], d["end"] = round(self.start, 2), round(self.end, 2)
        d["confidence"] = round(self.confidence, 3)
        return d


# not_applicable: the item needs what the input lacks (volume and intonation of a transcript):
# neither passed nor failed, and, like a manual item, outside the machine-scored maximum.
ItemStatus = Literal["pass", "fail", "manual", "needs_review", "not_applicable"]
UNSCORED_STATUSES: tuple[ItemStatus, ...] = ("manual", "not_applicable")  # the machine gives these no score


@dataclass
class ScoreItem:
    id: str
    name: str
    name_en: str
    category: str
    score: float | None
    max: float
    status: ItemStatus
    fatal: bool = False
    value: float | None = None
    detail: str = ""
    evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "name_en": self.name_en,
            "category": self.category,
            "score": _round(self.score, 2),
            "max": self.max,
            "status": self.status,
            "fatal": self.fatal,
            "value": _round(self.value, 2),
            "detail": self.detail,
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass
class Scorecard:
    rubric: str
    version: str
    total: float
    max: float
    passed: bool
    fatal: bool
    flags: list[str]
    items: list[ScoreItem]
    pass_score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "rubric": self.rubric,
            "version": self.version,
            "total": round(self.total, 2),
            "max": self.max,
            "pass_score": self.pass_score,
            "passed": self.passed,
            "fatal": self.fatal,
            "flags": self.flags,
            "items": [i.to_dict() for i in self.items],
        }


@dataclass
class CallMetrics:
    length_s: float
    talk_s: dict[Speaker, float]
    talk_ratio: dict[Speaker, float]
    silence_s: float
    overlap_s: float
    overlaps: int
    answer_delay_s: float | None
    turns: int
    agent_median_level_dbfs: float | None
    agent_median_rate: float | None
    customer_median_rate: float | None
    agent_pitch_spread_st: float | None
    # Seconds the call rang before it connected (None: unknown); the answer-delay item weighs it.
    ring_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (_round(v, 2) if isinstance(v, float) else
                    {kk: round(vv, 3) for kk, vv in v.items()} if isinstance(v, dict) else v)
                for k, v in asdict(self).items()}


@dataclass
class CallInfo:
    length_s: float
    language: str
    language_source: str  # "metadata" | "detected" | "transcript" (named by the transcript file)
    channels: int
    sample_rate: int
    codec: str
    agent_channel: int | None
    agent_found_by: str  # "metadata" | "default" | "separation: ..."
    model: str
    timings: dict[str, float] = field(default_factory=dict)
    source: str = "audio"  # "audio" | "transcript" (turns given, nothing measured on sound)
    # Why a person should check who said what in a mono mix ("" when the parties are sure).
    attribution_review: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["length_s"] = round(self.length_s, 2)
        d["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        return d


@dataclass
class EmotionPoint:
    start: float
    end: float
    label: str  # "neutral" when no emotion reaches its threshold
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 2), "end": round(self.end, 2), "label": self.label,
                "score": round(self.score, 3)}


@dataclass
class SemanticInfo:
    """What the semantic stage adds to a call: the model, its thresholds, the customer's emotion over time.

    The per-utterance scores live on the turns' utterances (`Utterance.labels`).
    """

    model: str
    thresholds: dict[str, tuple[float, float]]  # label -> (find, sure): reported from find, without review from sure
    emotion: list[EmotionPoint] = field(default_factory=list)  # one point per customer utterance

    def trajectory(self) -> tuple[str, str]:
        """The customer's emotion at the start and at the end of the call (the strongest in each third)."""
        pts = self.emotion
        if not pts:
            return "neutral", "neutral"
        third = max(1, len(pts) // 3)

        def strongest(part: list[EmotionPoint]) -> str:
            felt = [p for p in part if p.label != "neutral"]
            return max(felt, key=lambda p: p.score).label if felt else "neutral"

        return strongest(pts[:third]), strongest(pts[-third:])

    def to_dict(self) -> dict[str, Any]:
        start, end = self.trajectory()
        return {"model": self.model,
                "thresholds": {k: [round(a, 3), round(b, 3)] for k, (a, b) in sorted(self.thresholds.items())},
                "emotion": {"start": start, "end": end, "track": [p.to_dict() for p in self.emotion]}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SemanticInfo:
        track = (d.get("emotion") or {}).get("track", [])
        return cls(model=d.get("model", ""),
                   thresholds={k: (float(v[0]), float(v[1])) for k, v in (d.get("thresholds") or {}).items()},
                   emotion=[EmotionPoint(p["start"], p["end"], p["label"], p.get("score", 0.0)) for p in track])


@dataclass
class CallAnalysis:
    call: CallInfo
    turns: list[Turn]
    events: list[Event]
    metrics: CallMetrics
    scorecard: Scorecard
    speech: dict[Speaker, list[SpeechRegion]] = field(default_factory=dict)  # what the VAD heard, per party
    semantic: SemanticInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        call = self.call.to_dict()
        call["talk_ratio"] = self.metrics.to_dict()["talk_ratio"]
        if self.semantic:
            # Under `call`, which the service stores whole: a re-score reads the thresholds back from it.
            call["semantic"] = self.semantic.to_dict()
        return {
            "call": call,
            "metrics": self.metrics.to_dict(),
            "turns": [t.to_dict() for t in self.turns],
            "events": [e.to_dict() for e in self.events],
            "scorecard": self.scorecard.to_dict(),
            # Kept so a call can be re-scored under another rubric without the audio (qa_engine.rescore).
            "speech": {spk: [[round(r.start, 3), round(r.end, 3)] for r in regions]
                       for spk, regions in self.speech.items()},
        }


def _round(v: float | None, nd: int) -> float | None:
    return None if v is None else round(float(v), nd)
