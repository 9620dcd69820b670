"""What detectors share to read the semantic stage's labels (qa_engine.semantic): not a detector itself."""

from __future__ import annotations

from qa_engine.metrics.rate import spoken_units
from qa_engine.scoring.detectors.base import CallContext
from qa_engine.types import Event, Speaker, Turn, Utterance


def labelled(ctx: CallContext, speaker: Speaker, min_units: int = 0) -> list[tuple[Turn, Utterance]]:
    """The speaker's utterances the semantic stage scored, in time order, with their turns.

    `min_units`: leave out utterances shorter than this (characters in zh, words in en).
    """
    return [(t, u) for t in ctx.of(speaker) for u in t.utterances
            if u.labels and (not min_units or spoken_units(u.text, ctx.language) >= min_units)]


def thresholds(ctx: CallContext, label: str, find: float | None = None,
               sure: float | None = None) -> tuple[float, float]:
    """The (find, sure) score thresholds of `label`: the rubric's where it sets them, else the model's."""
    model = ctx.semantic.thresholds.get(label, (0.5, 0.5)) if ctx.semantic else (0.5, 0.5)
    f = model[0] if find is None else find
    return f, max(f, model[1] if sure is None else sure)


def strongest(ctx: CallContext, u: Utterance, labels: list[str], find: float | None = None) -> tuple[str, float] | None:
    """The label of `labels` the utterance scores highest on, if it reaches that label's find threshold."""
    hits = [(u.labels[x], x) for x in labels if x in u.labels and u.labels[x] >= thresholds(ctx, x, find)[0]]
    if not hits:
        return None
    score, label = max(hits)
    return label, score


def utterance_confidence(turn: Turn, u: Utterance) -> float:
    """How sure the ASR was of the utterance's words, on average (the whole turn's where words are missing)."""
    probs = [w.probability for w in turn.words if u.start - 0.01 <= (w.start + w.end) / 2 <= u.end + 0.01]
    return sum(probs) / len(probs) if probs else turn.mean_confidence


def utterance_event(kind: str, turn: Turn, u: Utterance, label: str, score: float, detail: str) -> Event:
    return Event(kind, u.start, u.end, turn.speaker, text=u.text, detail=detail,
                 confidence=utterance_confidence(turn, u), label=label, score=score)
