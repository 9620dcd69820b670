"""Interruptions (抢话): the agent starts while the customer is still speaking."""

from __future__ import annotations

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, evidence_of, register
from qa_engine.types import Event


class InterruptionParams(Params):
    min_overlap_s: float = 0.5


@register("interruption", InterruptionParams)
def interruption(ctx: CallContext, p: InterruptionParams) -> Finding:
    """Each agent turn that starts inside a customer turn and overlaps it by at least min_overlap_s."""
    events = []
    customer = ctx.of("customer")
    for a in ctx.of("agent"):
        for c in customer:
            if c.start < a.start < c.end:
                overlap = min(c.end, a.end) - a.start
                if overlap >= p.min_overlap_s:
                    events.append(Event("interruption", a.start, min(c.end, a.end), "agent", text=a.text,
                                        value=overlap, detail=f"agent spoke over the customer for {overlap:.1f} s "
                                                              f"(customer: {c.text})",
                                        confidence=a.min_confidence))
                    break
    return Finding(events=events, passed=not events, value=float(len(events)),
                   detail=f"{len(events)} interruption(s)", evidence=[evidence_of(e) for e in events])
