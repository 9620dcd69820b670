"""Intonation (语调): a flat, monotone voice over the call."""

from __future__ import annotations

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, register
from qa_engine.types import Event


class IntonationParams(Params):
    # Lively speech varies by 2-4 semitones (spread ~ std of F0); under 1 sounds flat.
    monotone_below_st: float = 1.0
    min_turns: int = 2


@register("intonation", IntonationParams, measures="agent pitch spread in semitones", needs_audio=True)
def intonation(ctx: CallContext, p: IntonationParams) -> Finding:
    """Median pitch spread of the agent's turns under the monotone threshold."""
    turns = [t for t in ctx.of("agent") if t.pitch_spread_st is not None]
    spread = ctx.metrics.agent_pitch_spread_st
    if len(turns) < p.min_turns or spread is None:
        return Finding(applicable=False, detail="too little voiced agent speech to judge intonation")
    if spread < p.monotone_below_st:
        ev = Event("monotone", turns[0].start, turns[-1].end, "agent", value=spread,
                   detail=f"pitch spread {spread:.2f} semitones < {p.monotone_below_st}")
        return Finding(events=[ev], passed=False, value=spread, detail=ev.detail or "")
    return Finding(passed=True, value=spread, detail=f"pitch spread {spread:.2f} semitones")
