"""Customer emotion (客户情绪): angry, frustrated or anxious utterances, and how the call ends."""

from __future__ import annotations

from pydantic import Field

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, evidence_of, register
from qa_engine.scoring.detectors.semantic_labels import labelled, strongest, utterance_event


class CustomerEmotionParams(Params):
    labels: list[str] = ["angry", "frustrated", "anxious"]  # emotions that raise an event (neutral never does)
    min_score: float | None = Field(default=None, ge=0, le=1)  # None: the model's threshold per label
    min_units: int = 3  # a two-character fragment carries too little meaning to judge


@register("customer_emotion", CustomerEmotionParams)
def customer_emotion(ctx: CallContext, p: CustomerEmotionParams) -> Finding:
    """Customer utterances the semantic model reads as one of the emotions; the start -> end trajectory."""
    if ctx.semantic is None:
        return Finding(applicable=False, detail="no semantic labels in this analysis")
    events = []
    for turn, u in labelled(ctx, "customer", p.min_units):
        hit = strongest(ctx, u, p.labels, p.min_score)
        if hit is not None:
            label, score = hit
            events.append(utterance_event("customer_emotion", turn, u, label, score, f"customer {label} ({score:.2f})"))
    start, end = ctx.semantic.trajectory()
    return Finding(events=events, passed=not events, value=float(len(events)),
                   detail=f"customer emotion {start} -> {end}; {len(events)} utterance(s) "
                          f"{'/'.join(p.labels)}", evidence=[evidence_of(e) for e in events])
