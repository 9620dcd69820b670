"""Answer delay (接听及时): connect time to the agent's first speech."""

from __future__ import annotations

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, register
from qa_engine.types import Event


class AnswerDelayParams(Params):
    late_after_s: float = 3.0  # the standard's target: answer within three rings


@register("answer_delay", AnswerDelayParams, measures="seconds to the agent's first speech")
def answer_delay(ctx: CallContext, p: AnswerDelayParams) -> Finding:
    """Seconds from connect (recording start unless metadata says) to the agent's first words."""
    delay = ctx.metrics.answer_delay_s
    if delay is None:
        ev = Event("late_answer", 0.0, ctx.length_s, "agent", detail="the agent never spoke")
        return Finding(events=[ev], passed=False, detail="the agent never spoke")
    first = ctx.of("agent")[0]
    if delay > p.late_after_s:
        ev = Event("late_answer", first.start - delay, first.start, "agent", text=first.text, value=delay,
                   detail=f"agent answered after {delay:.1f} s", confidence=first.min_confidence)
        return Finding(events=[ev], passed=False, value=delay, detail=ev.detail or "")
    return Finding(passed=True, value=delay, detail=f"agent answered after {delay:.1f} s")
