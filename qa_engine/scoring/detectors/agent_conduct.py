"""Agent conduct read from meaning (服务态度): brush-offs, rudeness, blaming the customer, however worded."""

from __future__ import annotations

from pydantic import Field

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, evidence_of, register
from qa_engine.scoring.detectors.semantic_labels import labelled, strongest, thresholds, utterance_event


class AgentConductParams(Params):
    labels: list[str] = ["dismissive", "rude", "blaming"]  # which conduct labels count against the item
    min_score: float | None = Field(default=None, ge=0, le=1)  # reported from here (None: the model's threshold)
    sure_score: float | None = Field(default=None, ge=0, le=1)  # below this a finding goes to review
    min_units: int = 3  # a two-character fragment ("在等") carries too little meaning to judge


@register("agent_conduct", AgentConductParams)
def agent_conduct(ctx: CallContext, p: AgentConductParams) -> Finding:
    """Agent utterances the semantic model reads as dismissive, rude or blaming; unsure ones go to review."""
    if ctx.semantic is None:
        return Finding(applicable=False, detail="no semantic labels in this analysis")
    events, sure = [], 0
    for turn, u in labelled(ctx, "agent", p.min_units):
        hit = strongest(ctx, u, p.labels, p.min_score)
        if hit is None:
            continue
        label, score = hit
        certain = score >= thresholds(ctx, label, p.min_score, p.sure_score)[1]
        sure += certain
        events.append(utterance_event("agent_conduct", turn, u, label, score,
                                      f"{label} ({score:.2f}{'' if certain else ', unsure'}): {u.text}"))
    detail = "; ".join(f"{e.label} @ {e.start:.1f}s" for e in events) or "no dismissive, rude or blaming utterance"
    return Finding(events=events, passed=not events, value=float(len(events)), detail=detail,
                   evidence=[evidence_of(e) for e in events], needs_review=bool(events) and not sure)
