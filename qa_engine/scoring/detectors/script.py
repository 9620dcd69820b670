"""Opening and closing scripts (开场白 / 结束语): the agent's first and last turns, each in its part of the call."""

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
    turns: int = Field(default=2, ge=1)  # how many of the agent's first (or last) turns to look in
    # ...and only those in the first (or last) part of the call: this share of its speech span.
    # The opening's "thank you for calling" is not the closing, however few turns the agent had.
    part: float = Field(default=0.5, gt=0, le=1)
    fuzzy: bool = True


def _check(ctx: CallContext, p: ScriptParams, turns: list[Turn], kind: str, event_type: str) -> Finding:
    if not turns:
        where = "never spoke" if not ctx.of("agent") else f"did not speak in the {kind} part of the call"
        at = 0.0 if kind == "opening" or not ctx.turns else _span(ctx)[1]
        ev = Event(event_type, at, at, "agent", detail=f"the agent {where}")
        return Finding(events=[ev], passed=False, detail=f"{kind} script missing: the agent {where}")
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


def _span(ctx: CallContext) -> tuple[float, float]:
    """From the first words to the last: silence before and after the talk is not part of the call."""
    return min(t.start for t in ctx.turns), max(t.end for t in ctx.turns)


@register("opening_script", ScriptParams)
def opening_script(ctx: CallContext, p: ScriptParams) -> Finding:
    """The agent's first turns, early in the call, hold the opening script."""
    agent = ctx.of("agent")
    if agent:
        first, last = _span(ctx)
        agent = [t for t in agent[: p.turns] if t.start <= first + p.part * (last - first)]
    return _check(ctx, p, agent, "opening", "missing_greeting")


@register("closing_script", ScriptParams)
def closing_script(ctx: CallContext, p: ScriptParams) -> Finding:
    """The agent's last turns, late in the call and after the first, hold the closing script."""
    agent = ctx.of("agent")
    if agent:
        first, last = _span(ctx)
        # A turn counts once it reaches into the final part; the agent's first turn (the opening) never does.
        agent = [t for t in agent[1:][-p.turns:] if t.end >= last - p.part * (last - first)]
    return _check(ctx, p, agent, "closing", "missing_closing")
