"""Customer escalation (客户升级): complaint and anger signals, raised voice."""

from __future__ import annotations

from statistics import median

from pydantic import Field

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, evidence_of, register
from qa_engine.scoring.detectors.phrases import PhraseList, as_items
from qa_engine.scoring.detectors.semantic_labels import labelled, thresholds, utterance_event
from qa_engine.scoring.matching import PhraseMatcher, specs_from
from qa_engine.types import Event


class EscalationParams(Params):
    phrases: PhraseList
    raised_voice_db: float = 8.0  # a customer turn this far over the customer's median level
    min_turns_for_voice: int = 3  # a median needs a few turns to mean anything
    # Customer emotions (semantic) that signal escalation beside the phrases and the voice, and the
    # score they need (None: the model's `sure` threshold: an escalation flag tops the queue).
    emotions: list[str] = []
    min_emotion_score: float | None = Field(default=None, ge=0, le=1)


@register("escalation", EscalationParams)
def escalation(ctx: CallContext, p: EscalationParams) -> Finding:
    """The customer threatens to complain, names a regulator or the media, or raises the voice."""
    matcher = PhraseMatcher(specs_from(as_items(p.phrases)), ctx.language, fuzzy=True, max_gap=2)
    customer = ctx.of("customer")
    events = []
    phrased: set[int] = set()
    for t in customer:
        for m in matcher.find(t):
            phrased.add(id(t))
            events.append(Event("escalation", m.start, m.end, "customer", text=t.text, phrase=m.phrase,
                                detail=f"complaint signal '{m.phrase}'", confidence=m.confidence))
    for t, u in labelled(ctx, "customer") if p.emotions else []:
        if id(t) in phrased:
            continue  # the phrase already says it
        felt = [(u.labels[x], x) for x in p.emotions if u.labels.get(x, 0.0) >= _sure(ctx, x, p.min_emotion_score)]
        if felt:
            score, label = max(felt)
            events.append(utterance_event("escalation", t, u, label, score,
                                          f"customer {label} ({score:.2f}, read from meaning)"))
    levels = [t.level_dbfs for t in customer if t.level_dbfs is not None and t.duration >= 1.0]
    if len(levels) >= p.min_turns_for_voice:
        med = median(levels)
        for t in customer:
            if t.level_dbfs is not None and t.duration >= 1.0 and t.level_dbfs > med + p.raised_voice_db:
                events.append(Event("escalation", t.start, t.end, "customer", text=t.text, value=t.level_dbfs,
                                    detail=f"raised voice: {t.level_dbfs - med:+.1f} dB over the customer's median",
                                    confidence=t.min_confidence))
    events.sort(key=lambda e: e.start)
    return Finding(events=events, passed=not events, value=float(len(events)),
                   detail="; ".join(e.detail or "" for e in events) or "no escalation signal",
                   evidence=[evidence_of(e) for e in events])


def _sure(ctx: CallContext, label: str, override: float | None) -> float:
    return override if override is not None else thresholds(ctx, label)[1]
