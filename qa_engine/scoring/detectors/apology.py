"""Apology after a complaint (致歉): when the customer complains, the agent apologises."""

from __future__ import annotations

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, register, turn_evidence
from qa_engine.scoring.detectors.phrases import PhraseList, as_items
from qa_engine.scoring.detectors.semantic_labels import strongest, utterance_confidence
from qa_engine.scoring.matching import PhraseMatcher, specs_from
from qa_engine.types import Event, Evidence, Turn


class ApologyParams(Params):
    complaint: PhraseList  # what counts as a complaint in the customer's words
    apology: PhraseList
    within_agent_turns: int = 2  # the apology must come in the agent's next turns
    # Semantic labels beside the phrase lists: a customer emotion that is a complaint, and
    # agent labels that are an apology (read from meaning: "I hear you, that's on us").
    complaint_emotions: list[str] = []
    apology_labels: list[str] = []


@register("apology", ApologyParams)
def apology(ctx: CallContext, p: ApologyParams) -> Finding:
    """After each customer complaint, one of the agent's next turns apologises."""
    complaint = PhraseMatcher(specs_from(as_items(p.complaint)), ctx.language, fuzzy=True, max_gap=2)
    sorry = PhraseMatcher(specs_from(as_items(p.apology)), ctx.language, fuzzy=False)
    agent = ctx.of("agent")
    complaints: list[tuple[Turn, str]] = []
    for t in ctx.of("customer"):
        if ms := complaint.find(t):
            complaints.append((t, ms[0].phrase))
        elif felt := _strongest_in(ctx, t, p.complaint_emotions):
            complaints.append((t, felt))
    if not complaints:
        return Finding(applicable=False, detail="no complaint in the call")
    events = []
    evidence = []
    for turn, what in complaints:
        replies = [a for a in agent if a.start >= turn.start][: p.within_agent_turns]
        said = [m for a in replies for m in sorry.find(a)]
        if said:
            evidence.append(Evidence(said[0].start, said[0].end, "agent", said[0].quote, said[0].confidence))
            continue
        meant = [(a, u) for a in replies for u in a.utterances if u.labels and strongest(ctx, u, p.apology_labels)]
        if meant:
            a, u = meant[0]
            evidence.append(Evidence(u.start, u.end, "agent", u.text, utterance_confidence(a, u)))
            continue
        end = replies[-1].end if replies else turn.end
        events.append(Event("missing_apology", turn.start, end, "agent", text=turn.text, phrase=what,
                            detail=f"customer complained ('{what}') and the agent did not apologise",
                            confidence=min([turn.mean_confidence] + [r.mean_confidence for r in replies])))
        evidence.append(turn_evidence(turn))
    return Finding(events=events, passed=not events, value=float(len(events)),
                   detail=f"{len(complaints)} complaint(s), {len(events)} without an apology", evidence=evidence)


def _strongest_in(ctx: CallContext, turn: Turn, labels: list[str]) -> str | None:
    """The emotion label a customer turn carries most strongly, of `labels`, if any reaches its threshold."""
    hits = [h for u in turn.utterances if u.labels and (h := strongest(ctx, u, labels))]
    return max(hits, key=lambda h: h[1])[0] if hits else None
