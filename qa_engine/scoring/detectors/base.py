"""The detector registry: a detector is a function of the call and its parameters.

Each detector module declares a pydantic model of its parameters (with the
standard's defaults) and registers itself by name; the rubric names the detector
and sets the parameters, which are validated when the rubric is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from qa_engine.types import CallMetrics, Event, Evidence, SemanticInfo, Speaker, SpeechRegion, Turn


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


P = TypeVar("P", bound=Params)


@dataclass
class CallContext:
    """Everything a detector may look at."""

    language: str
    turns: list[Turn]
    regions: dict[Speaker, list[SpeechRegion]]
    metrics: CallMetrics
    length_s: float
    audio: bool = True  # False: the call came as a transcript; nothing was measured on sound
    semantic: SemanticInfo | None = None  # None: the semantic stage did not run (utterances carry no labels)
    attribution_review: str = ""  # mono mix: why who said what is uncertain ("" when sure)

    def of(self, speaker: Speaker) -> list[Turn]:
        return [t for t in self.turns if t.speaker == speaker]


@dataclass
class Finding:
    """What a detector found: events for the timeline, and what the scorecard needs."""

    events: list[Event] = field(default_factory=list)
    passed: bool = True
    value: float | None = None  # the measured number, scored against the item's thresholds
    detail: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    applicable: bool = True  # False: nothing to judge in this call (e.g. no complaint to apologise for)
    needs_review: bool = False  # a failure a person should confirm (the model was not sure enough)


@dataclass
class Detector(Generic[P]):
    name: str
    params_model: type[P]
    run: Callable[[CallContext, P], Finding]
    measures: str | None = None  # what `value` is, for items scored by thresholds
    description: str = ""
    needs_audio: bool = False  # judges the sound itself (level, pitch): not applicable to a transcript


REGISTRY: dict[str, Detector[Any]] = {}


def register(name: str, params: type[P], measures: str | None = None, needs_audio: bool = False):
    def wrap(fn: Callable[[CallContext, P], Finding]) -> Callable[[CallContext, P], Finding]:
        if name in REGISTRY:
            raise RuntimeError(f"detector {name!r} registered twice")
        REGISTRY[name] = Detector(name, params, fn, measures, (fn.__doc__ or "").strip().split("\n")[0],
                                  needs_audio)
        return fn

    return wrap


def evidence_of(event: Event) -> Evidence:
    return Evidence(start=event.start, end=event.end, speaker=event.speaker,
                    text=event.text or event.detail or "", confidence=event.confidence)


def turn_evidence(turn: Turn) -> Evidence:
    # A whole turn is as sure as its words on average; one mumbled word does not make it doubtful.
    return Evidence(start=turn.start, end=turn.end, speaker=turn.speaker, text=turn.text,
                    confidence=turn.mean_confidence)
