"""Words of both parties -> speaker turns in time order, overlaps kept.

A turn is one party's stretch of speech up to a pause (a VAD region boundary) or
up to the other party taking the floor. Short pauses inside a region stay inside
the turn, so the rate and level of a turn are those of one utterance.
"""

from __future__ import annotations

from qa_engine.asr.text import join_words
from qa_engine.types import Speaker, SpeechRegion, Turn, Word


def build_turns(
    words: list[Word],
    regions: dict[Speaker, list[SpeechRegion]],
    language: str,
) -> list[Turn]:
    turns: list[Turn] = []
    for speaker, spk_regions in regions.items():
        spk_words = sorted((w for w in words if w.speaker == speaker), key=lambda w: w.start)
        turns.extend(_turns_of(speaker, spk_words, spk_regions, language))
    turns.sort(key=lambda t: (t.start, t.end))
    return turns


def _turns_of(speaker: Speaker, words: list[Word], regions: list[SpeechRegion], language: str) -> list[Turn]:
    groups: list[tuple[SpeechRegion, list[Word]]] = [(r, []) for r in regions]
    orphans: list[Word] = []
    for w in words:
        mid = (w.start + w.end) / 2
        idx = _region_index(regions, mid)
        if idx is None:
            orphans.append(w)
        else:
            groups[idx][1].append(w)
    # A word the aligner put just outside any region joins the nearest one.
    for w in orphans:
        mid = (w.start + w.end) / 2
        if regions:
            nearest = min(range(len(regions)), key=lambda i: _distance(regions[i], mid))
            groups[nearest][1].append(w)
    out = []
    for region, ws in groups:
        if not ws:
            continue
        ws.sort(key=lambda w: w.start)
        # The turn spans the speech the VAD heard, tightened to the words where they agree.
        start = max(region.start, min(ws[0].start, region.end))
        end = min(region.end, max(ws[-1].end, region.start))
        if end - start < 0.2:
            start, end = region.start, region.end
        out.append(Turn(speaker=speaker, start=start, end=end,
                        text=join_words([w.text for w in ws], language), words=ws))
    return out


def _region_index(regions: list[SpeechRegion], t: float) -> int | None:
    for i, r in enumerate(regions):
        if r.start <= t <= r.end:
            return i
    return None


def _distance(r: SpeechRegion, t: float) -> float:
    return 0.0 if r.start <= t <= r.end else min(abs(r.start - t), abs(r.end - t))


def transcript_text(turns: list[Turn], speaker_names: dict[str, str] | None = None) -> str:
    names = speaker_names or {}
    return "\n".join(f"[{t.start:7.2f}–{t.end:7.2f}] {names.get(t.speaker, t.speaker)}: {t.text}" for t in turns)
