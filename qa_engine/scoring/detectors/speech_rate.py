"""Speech rate (语速): the agent's speaking time at the standard rate, and pace against the customer's."""

from __future__ import annotations

from pydantic import model_validator

from qa_engine.metrics.rate import STANDARD_RATES, RateBand
from qa_engine.scoring.detectors.base import CallContext, Finding, Params, evidence_of, register, turn_evidence
from qa_engine.types import Event, Turn


class SpeechRateParams(Params):
    # Units a minute: Chinese characters (zh) or words (en). Left out: the service standard's
    # for the call's language (zh 150-260, over 300 a violation; en 120-170, over 200).
    band: tuple[float, float] | None = None  # the standard rate
    fast_above: float | None = None  # faster is a violation
    slow_below: float | None = None  # slower is a violation
    # A turn's rate is rated only when it rests on enough speech: a short "好的" says little.
    min_units: int = 8
    min_span_s: float = 1.5
    pace_ratio: float = 1.3  # agent median rate at most this times the customer's

    @model_validator(mode="after")
    def _ordered(self) -> SpeechRateParams:
        low, high = self.band or (None, None)
        if low is not None and high is not None and not 0 < low < high:
            raise ValueError("band is [slowest, fastest] standard rate, slowest first")
        if self.fast_above is not None and high is not None and self.fast_above < high:
            raise ValueError("fast_above must not be under the band's fastest rate")
        if self.slow_below is not None and low is not None and self.slow_below > low:
            raise ValueError("slow_below must not be over the band's slowest rate")
        if self.fast_above is not None and self.slow_below is not None and self.slow_below >= self.fast_above:
            raise ValueError("slow_below must be under fast_above")
        return self

    def rate_band(self, language: str) -> RateBand:
        std = STANDARD_RATES.get(language, STANDARD_RATES["zh"])
        low, high = self.band or (std.low, std.high)
        return RateBand(low, high, std.slow_below if self.slow_below is None else self.slow_below,
                        std.fast_above if self.fast_above is None else self.fast_above)


@register("speech_rate", SpeechRateParams, measures="share of the agent's speaking time at the standard rate")
def speech_rate(ctx: CallContext, p: SpeechRateParams) -> Finding:
    """Agent speaking time at the standard rate, weighted by how long each turn lasts; violations and pace."""
    unit = "chars/min" if ctx.language == "zh" else "words/min"
    band = p.rate_band(ctx.language)
    rated = [t for t in ctx.of("agent")
             if t.rate_per_min is not None and t.units >= p.min_units and t.duration >= p.min_span_s]
    events = [e for t in rated if (e := _violation(t, band, unit))]
    m = ctx.metrics
    if m.agent_median_rate and m.customer_median_rate and m.agent_median_rate > p.pace_ratio * m.customer_median_rate:
        agent_turns = ctx.of("agent")
        events.append(Event("pace_mismatch", agent_turns[0].start, agent_turns[-1].end, "agent",
                            value=m.agent_median_rate / m.customer_median_rate,
                            detail=f"agent {m.agent_median_rate:.0f} vs customer {m.customer_median_rate:.0f} "
                                   f"{unit}: over {p.pace_ratio}x the customer's pace"))
    if not rated:
        return Finding(events=events, applicable=False, passed=not events, detail="no agent turn long enough")
    # Weighted by speaking time: a 12-second pitch at 480 chars/min weighs twelve times a one-second reply.
    spoken = sum(t.duration for t in rated)
    share = sum(band.credit(_rate(t)) * t.duration for t in rated) / spoken
    fast_s = sum(t.duration for t in rated if _rate(t) > band.fast_above)
    slow_s = sum(t.duration for t in rated if _rate(t) < band.slow_below)
    detail = (f"{share:.0%} of {spoken:.1f} s of agent speech at the standard rate "
              f"({band.low:.0f}-{band.high:.0f} {unit})")
    if fast_s or slow_s:
        detail += f"; {fast_s:.1f} s over {band.fast_above:.0f}, {slow_s:.1f} s under {band.slow_below:.0f}"
    # Out of the band but short of a violation: no event, but the inspector sees what lowered the share.
    brisk = [turn_evidence(t) for t in rated if 0 < band.credit(_rate(t)) < 1]
    return Finding(events=events, passed=not events, value=share, detail=detail,
                   evidence=[evidence_of(e) for e in events] + brisk[:5])


def _rate(turn: Turn) -> float:
    assert turn.rate_per_min is not None
    return turn.rate_per_min


def _violation(turn: Turn, band: RateBand, unit: str) -> Event | None:
    rate = _rate(turn)
    if band.slow_below <= rate <= band.fast_above:
        return None
    kind, limit = ("fast_speech", f"> {band.fast_above:.0f}") if rate > band.fast_above else \
        ("slow_speech", f"< {band.slow_below:.0f}")
    # A rate counts every word of the turn: one doubtful word does not make it doubtful.
    return Event(kind, turn.start, turn.end, "agent", text=turn.text, value=rate,
                 detail=f"{rate:.0f} {unit} {limit} for {turn.duration:.1f} s", confidence=turn.mean_confidence)
