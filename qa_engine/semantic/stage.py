"""The semantic stage: label every utterance of a call, and follow the customer's emotion."""

from __future__ import annotations

from qa_engine.semantic.classifier import EMOTIONS
from qa_engine.semantic.models import SemanticModel
from qa_engine.types import SPEAKERS, EmotionPoint, SemanticInfo, Turn, Utterance


def label_turns(turns: list[Turn], model: SemanticModel) -> SemanticInfo:
    """Score each utterance with text (agent: conduct, empathy, hedging; customer: emotion), in place."""
    for speaker in SPEAKERS:
        utterances = [u for t in turns if t.speaker == speaker for u in _utterances_of(t) if u.text.strip()]
        # One batch per party: the encoder streams its weights once for the whole call.
        for u, scores in zip(utterances, model.label([u.text for u in utterances], speaker), strict=True):
            u.labels = scores
    thresholds = {k: (t.find, t.sure) for k, t in model.heads.thresholds.items()}
    info = SemanticInfo(model=model.name, thresholds=thresholds)
    info.emotion = [_emotion(u, thresholds) for t in turns if t.speaker == "customer"
                    for u in t.utterances if u.labels]
    return info


def _utterances_of(turn: Turn) -> list[Utterance]:
    if not turn.utterances and turn.text.strip():
        turn.utterances = [Utterance(turn.start, turn.end, turn.text, turn.level_dbfs)]
    return turn.utterances


def _emotion(u: Utterance, thresholds: dict[str, tuple[float, float]]) -> EmotionPoint:
    felt = [(u.labels[e], e) for e in EMOTIONS if e in u.labels and u.labels[e] >= thresholds[e][0]]
    if not felt:
        return EmotionPoint(u.start, u.end, "neutral", u.labels.get("neutral", 0.0))
    score, label = max(felt)
    return EmotionPoint(u.start, u.end, label, score)
