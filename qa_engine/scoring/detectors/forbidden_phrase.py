"""Forbidden phrases (服务禁语) in the agent's speech."""

from __future__ import annotations

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, evidence_of, register
from qa_engine.scoring.detectors.phrases import PhraseList, as_items
from qa_engine.scoring.matching import PhraseMatcher, specs_from
from qa_engine.types import Event


class ForbiddenPhraseParams(Params):
    phrases: PhraseList
    fuzzy: bool = True  # pinyin-level matching, so an ASR homophone still hits
    max_gap: int = 2  # filler characters (zh) or words (en) allowed inside a phrase


@register("forbidden_phrase", ForbiddenPhraseParams)
def forbidden_phrase(ctx: CallContext, p: ForbiddenPhraseParams) -> Finding:
    """Agent says a forbidden phrase: exact, regex or homophone, minus context exclusions."""
    matcher = PhraseMatcher(specs_from(as_items(p.phrases)), ctx.language, p.fuzzy, p.max_gap)
    events = []
    for turn in ctx.of("agent"):
        matches = matcher.find(turn)
        # "not my problem" inside "that's not my problem" is one violation, reported as the longer phrase.
        matches = [m for m in matches if not any(o is not m and o.start <= m.start and m.end <= o.end
                                                 and len(o.phrase) > len(m.phrase) for o in matches)]
        for m in matches:
            events.append(Event("forbidden_phrase", m.start, m.end, "agent", text=m.quote, phrase=m.phrase,
                                detail=f"{m.how} match in: {turn.text}", confidence=m.confidence))
    detail = "; ".join(f"{e.phrase} @ {e.start:.1f}s" for e in events) or "no forbidden phrase"
    return Finding(events=events, passed=not events, value=float(len(events)), detail=detail,
                   evidence=[evidence_of(e) for e in events])
