"""Speech rate (语速): per agent turn, and the agent's pace against the customer's."""

from __future__ import annotations

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, evidence_of, register
from qa_engine.types import Event


class SpeechRateParams(Params):
    fast_above: float  # units/min: chars (zh) or words (en); above is a violation
    slow_below: float
    min_units: int = 8  # short turns give unreliable rates
    min_span_s: float = 1.5
    pace_ratio: float = 1.3  # agent median rate at most this times the customer's


@register("speech_rate", SpeechRateParams, measures="share of rated agent turns at a normal rate")
def speech_rate(ctx: CallContext, p: SpeechRateParams) -> Finding:
    """Agent turns faster or slower than the standard, and agent pace far above the customer's."""
    unit = "chars/min" if ctx.language == "zh" else "words/min"
    rated = [t for t in ctx.of("agent")
             if t.rate_per_min is not None and t.units >= p.min_units and t.duration >= p.min_span_s]
    events = []
    for t in rated:
        assert t.rate_per_min is not None
        if t.rate_per_min > p.fast_above:
            events.append(Event("fast_speech", t.start, t.end, "agent", text=t.text, value=t.rate_per_min,
                                detail=f"{t.rate_per_min:.0f} {unit} > {p.fast_above:.0f}",
                                confidence=t.min_confidence))
        elif t.rate_per_min < p.slow_below:
            events.append(Event("slow_speech", t.start, t.end, "agent", text=t.text, value=t.rate_per_min,
                                detail=f"{t.rate_per_min:.0f} {unit} < {p.slow_below:.0f}",
                                confidence=t.min_confidence))
    m = ctx.metrics
    if m.agent_median_rate and m.customer_median_rate and m.agent_median_rate > p.pace_ratio * m.customer_median_rate:
        agent_turns = ctx.of("agent")
        events.append(Event("pace_mismatch", agent_turns[0].start, agent_turns[-1].end, "agent",
                            value=m.agent_median_rate / m.customer_median_rate,
                            detail=f"agent {m.agent_median_rate:.0f} vs customer {m.customer_median_rate:.0f} "
                                   f"{unit}: over {p.pace_ratio}x the customer's pace"))
    if not rated:
        return Finding(events=events, applicable=False, passed=not events, detail="no agent turn long enough")
    bad = {(e.start, e.end) for e in events if e.type in ("fast_speech", "slow_speech")}
    share = 1 - len(bad) / len(rated)
    median = m.agent_median_rate
    detail = f"agent median {median:.0f} {unit}; {len(bad)} of {len(rated)} turns out of range" if median else ""
    return Finding(events=events, passed=not events, value=share, detail=detail,
                   evidence=[evidence_of(e) for e in events])
