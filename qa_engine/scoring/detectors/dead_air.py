"""Dead air and hold etiquette (冷场 / 等待): both parties silent too long."""

from __future__ import annotations

from itertools import pairwise

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, evidence_of, register
from qa_engine.scoring.detectors.phrases import PhraseList, as_items
from qa_engine.scoring.matching import PhraseMatcher, specs_from
from qa_engine.types import Event
from qa_engine.vad import union


class DeadAirParams(Params):
    min_silence_s: float = 5.0
    hold_announce: PhraseList = []  # 请稍等 said before the silence makes it a hold
    hold_thanks: PhraseList = []  # 感谢您的耐心等待 / 让您久等了 after it
    announce_window_s: float = 15.0


@register("dead_air", DeadAirParams)
def dead_air(ctx: CallContext, p: DeadAirParams) -> Finding:
    """Silences of both parties inside the call; a hold must be announced and thanked."""
    speech = union(*ctx.regions.values())
    announce = PhraseMatcher(specs_from(as_items(p.hold_announce)), ctx.language)
    thanks = PhraseMatcher(specs_from(as_items(p.hold_thanks)), ctx.language)
    agent = ctx.of("agent")
    events = []
    for prev, nxt in pairwise(speech):
        gap = nxt.start - prev.end
        if gap <= p.min_silence_s:
            continue
        before = [t for t in agent if prev.end - p.announce_window_s <= t.end <= prev.end + 0.5]
        after = [t for t in agent if nxt.start - 0.5 <= t.start][:1]
        announced = any(announce.any_in(t) for t in before)
        thanked = any(thanks.any_in(t) for t in after)
        if announced and thanked:
            events.append(Event("hold", prev.end, nxt.start, None, value=gap,
                                detail=f"{gap:.1f} s hold, announced and thanked"))
            continue
        why = ("hold announced but the customer was not thanked for waiting" if announced
               else "silence not announced as a hold")
        events.append(Event("dead_air", prev.end, nxt.start, None, value=gap, detail=f"{gap:.1f} s: {why}"))
    bad = [e for e in events if e.type == "dead_air"]
    detail = "; ".join(e.detail or "" for e in events) or f"no silence over {p.min_silence_s:.0f} s"
    return Finding(events=events, passed=not bad, value=float(len(bad)), detail=detail,
                   evidence=[evidence_of(e) for e in events])
