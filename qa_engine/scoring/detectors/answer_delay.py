"""Answer delay (接听及时): rings before connect, then connect to the agent's first words."""

from __future__ import annotations

import math

from pydantic import Field

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, register
from qa_engine.types import Event


class AnswerDelayParams(Params):
    late_after_s: float = 3.0  # the agent's first words this long after connect at most
    # The standard: "answer within three rings". A ring is one cadence of the ringback tone the
    # customer hears: 5 s in China (1 s on, 4 s off), 6 s in North America (2 s on, 4 s off).
    rings: int = Field(default=3, ge=0)
    ring_cycle_s: float = Field(default=5.0, gt=0)


@register("answer_delay", AnswerDelayParams,
          measures="seconds to the agent's first words after connect, plus a ring's time per ring past the allowed")
def answer_delay(ctx: CallContext, p: AnswerDelayParams) -> Finding:
    """The agent answers within the allowed rings and speaks soon after connect.

    Ringing within the allowed rings costs nothing; each ring the customer hears past them
    (picked up in the fourth: one) counts as a ring's time of silence after connect: both
    are the customer waiting for the agent.
    """
    delay = ctx.metrics.answer_delay_s
    if delay is None:
        ev = Event("late_answer", 0.0, ctx.length_s, "agent", detail="the agent never spoke")
        return Finding(events=[ev], passed=False, detail="the agent never spoke")
    ring = ctx.metrics.ring_s
    detail = f"agent spoke {delay:.1f} s after connect"
    value = delay
    if ring is not None:
        heard = math.ceil(ring / p.ring_cycle_s - 1e-6)  # the ring it was picked up in
        value += max(0, heard - p.rings) * p.ring_cycle_s
        rang = f"picked up in ring {heard} after {ring:.1f} s" if heard else "picked up without ringing"
        detail = f"{rang} ({p.rings} allowed, {p.ring_cycle_s:g} s a ring); {detail}"
    first = ctx.of("agent")[0]
    if value > p.late_after_s:
        waiting_from = max(0.0, first.start - delay - (ring or 0.0))  # as far back as the recording goes
        ev = Event("late_answer", waiting_from, first.start, "agent", text=first.text, value=value,
                   detail=f"late answer: {detail}", confidence=first.min_confidence)
        return Finding(events=[ev], passed=False, value=value, detail=ev.detail or "")
    return Finding(passed=True, value=value, detail=detail)
