"""Per-call timing: length, talk per party, silence, overlap, answer delay and ring time.

Where the call connected, and how long it rang before, come from the caller (metadata):
- `connect_offset_s`: seconds into the recording (or transcript) when the call connected;
  0 when the recording starts at connect, as most recorders do.
- `ring_s`: seconds the call rang before it connected. Unknown (None) it is taken to be
  the connect offset: a recording that starts before connect holds the ringing the customer
  heard. A recording that starts at connect holds none of it, so only the caller can say.
`answer_delay_s` is the agent's first words after connect; `ring_s` is kept beside it, and
the answer-delay detector weighs both against the standard ("answer within three rings").
"""

from __future__ import annotations

from statistics import median

from qa_engine.types import CallMetrics, Speaker, SpeechRegion, Turn
from qa_engine.vad import total_duration, union


def overlaps(a: list[SpeechRegion], b: list[SpeechRegion]) -> list[SpeechRegion]:
    out = []
    for x in a:
        for y in b:
            s, e = max(x.start, y.start), min(x.end, y.end)
            if e > s:
                out.append(SpeechRegion(s, e))
    return out


def call_metrics(
    length_s: float,
    regions: dict[Speaker, list[SpeechRegion]],
    turns: list[Turn],
    connect_offset_s: float = 0.0,
    ring_s: float | None = None,
) -> CallMetrics:
    talk = {spk: total_duration(r) for spk, r in regions.items()}
    total_talk = sum(talk.values()) or 1.0
    anyone = union(*regions.values())
    both = overlaps(regions.get("agent", []), regions.get("customer", []))
    agent_turns = [t for t in turns if t.speaker == "agent"]
    customer_turns = [t for t in turns if t.speaker == "customer"]
    first_agent = min((t.start for t in agent_turns), default=None)
    answer_delay = None if first_agent is None else max(0.0, first_agent - connect_offset_s)
    return CallMetrics(
        length_s=length_s,
        talk_s=talk,
        talk_ratio={spk: v / total_talk for spk, v in talk.items()},
        silence_s=max(0.0, length_s - total_duration(anyone)),
        overlap_s=total_duration(both),
        overlaps=len([o for o in both if o.duration >= 0.2]),
        answer_delay_s=answer_delay,
        turns=len(turns),
        agent_median_level_dbfs=_median([u.level_dbfs for t in agent_turns for u in t.utterances]),
        agent_median_rate=_median([t.rate_per_min for t in agent_turns]),
        customer_median_rate=_median([t.rate_per_min for t in customer_turns]),
        agent_pitch_spread_st=_median([t.pitch_spread_st for t in agent_turns]),
        ring_s=ring_s if ring_s is not None else (connect_offset_s or None),
    )


def _median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(median(vals)) if vals else None
