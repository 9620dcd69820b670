"""Civil, polite language (文明用语): polite forms in most agent turns."""

from __future__ import annotations

from qa_engine.metrics.rate import spoken_units
from qa_engine.scoring.detectors.base import CallContext, Finding, Params, register, turn_evidence
from qa_engine.scoring.detectors.phrases import PhraseList, as_items
from qa_engine.scoring.detectors.semantic_labels import strongest
from qa_engine.scoring.matching import PhraseMatcher, specs_from
from qa_engine.types import Turn


class PoliteLanguageParams(Params):
    phrases: PhraseList
    min_units: int = 6  # "ok" / "嗯" turns carry no politeness either way
    # Semantic labels that make a turn polite without a listed phrase ("I hear you, that's not okay").
    semantic_labels: list[str] = []


@register("polite_language", PoliteLanguageParams, measures="share of agent turns with a polite form")
def polite_language(ctx: CallContext, p: PoliteLanguageParams) -> Finding:
    """Share of the agent's substantive turns that use at least one polite form."""
    matcher = PhraseMatcher(specs_from(as_items(p.phrases)), ctx.language, fuzzy=False)
    turns = [t for t in ctx.of("agent") if spoken_units(t.text, ctx.language) >= p.min_units]
    if not turns:
        return Finding(applicable=False, detail="no agent turn long enough to judge")
    without = [t for t in turns if not matcher.any_in(t) and not _reads_polite(ctx, t, p.semantic_labels)]
    share = 1 - len(without) / len(turns)
    detail = f"{len(turns) - len(without)} of {len(turns)} agent turns use a polite form"
    return Finding(passed=share >= 0.5, value=share, detail=detail,
                   evidence=[turn_evidence(t) for t in without[:5]])


def _reads_polite(ctx: CallContext, turn: Turn, labels: list[str]) -> bool:
    return bool(labels) and any(strongest(ctx, u, labels) for u in turn.utterances if u.labels)
