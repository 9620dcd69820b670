"""Volume (音量): turns too loud or too soft, against the agent's own median and absolutely."""

from __future__ import annotations

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, evidence_of, register
from qa_engine.types import Event


class VolumeParams(Params):
    loud_over_median_db: float = 8.0
    loud_abs_dbfs: float = -10.0
    quiet_abs_dbfs: float = -40.0
    quiet_under_median_db: float = 15.0
    min_duration_s: float = 0.8


@register("volume", VolumeParams, needs_audio=True)
def volume(ctx: CallContext, p: VolumeParams) -> Finding:
    """Agent utterances shouted (over the agent's median or near full scale) or too soft."""
    med = ctx.metrics.agent_median_level_dbfs
    events = []
    # Judged per utterance: one sentence shouted inside a calm turn is still shouted.
    for t in (u for turn in ctx.of("agent") for u in turn.utterances):
        if t.level_dbfs is None or t.end - t.start < p.min_duration_s:
            continue
        lvl = t.level_dbfs
        if lvl > p.loud_abs_dbfs or (med is not None and lvl > med + p.loud_over_median_db):
            why = f"{lvl:.1f} dBFS" + (f", {lvl - med:+.1f} dB over the agent's median" if med is not None else "")
            events.append(Event("loud", t.start, t.end, "agent", text=t.text, value=lvl, detail=why))
        elif lvl < p.quiet_abs_dbfs or (med is not None and lvl < med - p.quiet_under_median_db):
            why = f"{lvl:.1f} dBFS" + (f", {lvl - med:+.1f} dB under the agent's median" if med is not None else "")
            events.append(Event("quiet", t.start, t.end, "agent", text=t.text, value=lvl, detail=why))
    detail = f"agent median level {med:.1f} dBFS" if med is not None else "no agent speech measured"
    return Finding(events=events, passed=not events, value=float(len(events)), detail=detail,
                   evidence=[evidence_of(e) for e in events])
