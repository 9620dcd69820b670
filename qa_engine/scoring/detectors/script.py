"""Opening and closing scripts (开场白 / 结束语) in the agent's first and last turns."""

from __future__ import annotations

from dataclasses import replace

from pydantic import Field

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, register, turn_evidence
from qa_engine.scoring.detectors.phrases import PhraseList, as_items
from qa_engine.scoring.matching import Match, PhraseMatcher, specs_from
from qa_engine.types import Event, Evidence, Turn


class ScriptParams(Params):
    # Every group needs one phrase present: e.g. [greeting words], [offer of help / identity].
    groups: list[PhraseList] = Field(min_length=1)
    turns: int = 2  # how many of the agent's first (or last) turns to look in
    fuzzy: bool = True


def _check(ctx: CallContext, p: ScriptParams, turns: list[Turn], kind: str, event_type: str) -> Finding:
    if not turns:
        ev = Event(event_type, 0.0, 0.0, "agent", detail="the agent never spoke")
        return Finding(events=[ev], passed=False, detail="the agent never spoke")
    hits: list[Match] = []
    missing: list[str] = []
    for group in p.groups:
        matcher = PhraseMatcher(specs_from(as_items(group)), ctx.language, p.fuzzy)
        found = [m for t in turns for m in matcher.find(t)]
        if found:
            hits.append(found[0])
        else:
            names = [g if isinstance(g, str) else (g.name or g.phrase or g.regex or "") for g in group]
            missing.append(" / ".join(names[:3]))
    if missing:
        detail = f"{kind} script incomplete: missing {'; '.join(missing)}"
        # Absence is not evidenced by any word, so the ASR's doubt about other words does not
        # send it to review: the inspector sees the agent's opening turns as evidence anyway.
        ev = Event(event_type, turns[0].start, turns[-1].end, "agent", text=" ".join(t.text for t in turns),
                   detail=detail)
        evidence = [replace(turn_evidence(t), confidence=1.0) for t in turns]
        return Finding(events=[ev], passed=False, detail=detail, evidence=evidence)
    ev_list = [Evidence(m.start, m.end, "agent", m.quote, m.confidence) for m in hits]
    return Finding(passed=True, detail=f"{kind} script present: " + ", ".join(m.phrase for m in hits),
                   evidence=ev_list)


@register("opening_script", ScriptParams)
def opening_script(ctx: CallContext, p: ScriptParams) -> Finding:
    """The agent's first turns hold the opening script."""
    return _check(ctx, p, ctx.of("agent")[: p.turns], "opening", "missing_greeting")


@register("closing_script", ScriptParams)
def closing_script(ctx: CallContext, p: ScriptParams) -> Finding:
    """The agent's last turns hold the closing script."""
    return _check(ctx, p, ctx.of("agent")[-p.turns:], "closing", "missing_closing")
