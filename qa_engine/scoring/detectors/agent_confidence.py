"""Confidence (自信): the agent answers without hedging (可能吧, 应该是, 大概, "I guess maybe")."""

from __future__ import annotations

from pydantic import Field

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, evidence_of, register
from qa_engine.scoring.detectors.semantic_labels import labelled, strongest, utterance_event


class AgentConfidenceParams(Params):
    labels: list[str] = ["hedging"]
    min_score: float | None = Field(default=None, ge=0, le=1)  # None: the model's threshold
    min_units: int = 4  # "嗯" / "ok" carry no confidence either way


@register("agent_confidence", AgentConfidenceParams, measures="share of the agent's utterances that hedge")
def agent_confidence(ctx: CallContext, p: AgentConfidenceParams) -> Finding:
    """Share of the agent's substantive utterances the semantic model reads as hedged (low confidence)."""
    if ctx.semantic is None:
        return Finding(applicable=False, detail="no semantic labels in this analysis")
    judged = labelled(ctx, "agent", p.min_units)
    if not judged:
        return Finding(applicable=False, detail="no agent utterance long enough to judge")
    events = []
    for turn, u in judged:
        hit = strongest(ctx, u, p.labels, p.min_score)
        if hit is not None:
            label, score = hit
            events.append(utterance_event("low_confidence", turn, u, label, score, f"hedged ({score:.2f}): {u.text}"))
    share = len(events) / len(judged)
    return Finding(events=events, passed=not events, value=share,
                   detail=f"{len(events)} of {len(judged)} agent utterances hedge",
                   evidence=[evidence_of(e) for e in events])
