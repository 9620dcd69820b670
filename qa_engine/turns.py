"""Words of both parties -> speaker turns in time order, overlaps kept.

Words fall into the VAD's speech regions (utterances). Consecutive utterances of
one party form a turn until the other party speaks or the pause grows past
`max_pause_s`: a turn is what a person hears as one go at talking, pauses for
breath included, which is the span the standard's speaking rate is measured on.
"""

from __future__ import annotations

from qa_engine.asr.text import join_words
from qa_engine.types import SPEAKERS, Speaker, SpeechRegion, Turn, Utterance, Word

MAX_PAUSE_S = 1.0


def build_turns(
    words: list[Word],
    regions: dict[Speaker, list[SpeechRegion]],
    language: str,
    max_pause_s: float = MAX_PAUSE_S,
) -> list[Turn]:
    turns: list[Turn] = []
    for speaker, spk_regions in regions.items():
        spk_words = sorted((w for w in words if w.speaker == speaker), key=lambda w: w.start)
        others = [r for s, rl in regions.items() if s != speaker for r in rl]
        utterances = _utterances(spk_words, spk_regions)
        turns.extend(_merge(speaker, utterances, others, language, max_pause_s))
    turns.sort(key=lambda t: (t.start, t.end))
    return turns


def _utterances(words: list[Word], regions: list[SpeechRegion]) -> list[tuple[float, float, list[Word]]]:
    groups: list[list[Word]] = [[] for _ in regions]
    for w in words:
        if not regions:
            break
        mid = (w.start + w.end) / 2
        # A word the aligner put just outside every region joins the nearest one.
        idx = min(range(len(regions)), key=lambda i: _distance(regions[i], mid))
        groups[idx].append(w)
    out = []
    for region, ws in zip(regions, groups, strict=True):
        if not ws:
            continue  # noise the VAD took for speech, or speech the ASR could not read
        ws.sort(key=lambda w: w.start)
        # The span the VAD heard, tightened to the words where they agree.
        start = max(region.start, min(ws[0].start, region.end))
        end = min(region.end, max(ws[-1].end, region.start))
        if end - start < 0.2:
            start, end = region.start, region.end
        out.append((start, end, ws))
    return out


def _merge(speaker: Speaker, utterances: list[tuple[float, float, list[Word]]], others: list[SpeechRegion],
           language: str, max_pause_s: float) -> list[Turn]:
    turns: list[Turn] = []
    for start, end, ws in utterances:
        text = join_words([w.text for w in ws], language)
        utt = Utterance(start, end, text)
        if turns:
            prev = turns[-1]
            if _continues(prev, start, others, max_pause_s):
                prev.end = end
                prev.words.extend(ws)
                prev.utterances.append(utt)
                prev.text = join_words([w.text for w in prev.words], language)
                continue
        turns.append(Turn(speaker=speaker, start=start, end=end, text=text, words=list(ws), utterances=[utt]))
    return turns


def _continues(prev: Turn, start: float, others: list[SpeechRegion], max_pause_s: float) -> bool:
    """Speech starting at `start` goes on `prev`: a short pause, and the other party did not
    speak in it (or was still speaking through it)."""
    other_spoke = any(o.start < start and o.end > prev.end for o in others)
    return start - prev.end <= max_pause_s and not other_spoke


def turns_from_segments(segments: list[tuple[Speaker, float, float, str]], language: str,
                        max_pause_s: float = MAX_PAUSE_S) -> list[Turn]:
    """Turns from text already split by speaker (a transcript made elsewhere, a chat).

    Each segment becomes an utterance, and consecutive ones of a party join into a turn by
    the rule speech from a recording follows, so the detectors see turns of the same kind.
    """
    sep = "" if language == "zh" else " "
    turns: list[Turn] = []
    for speaker in SPEAKERS:
        others = [SpeechRegion(s, e) for spk, s, e, _ in segments if spk != speaker]
        mine: list[Turn] = []
        for spk, start, end, text in sorted((g for g in segments if g[0] == speaker), key=lambda g: g[1]):
            utt = Utterance(start, end, text)
            if mine and _continues(mine[-1], start, others, max_pause_s):
                prev = mine[-1]
                prev.end = max(prev.end, end)
                prev.utterances.append(utt)
                prev.text = sep.join(u.text for u in prev.utterances)
            else:
                mine.append(Turn(speaker=spk, start=start, end=end, text=text, utterances=[utt]))
        turns.extend(mine)
    turns.sort(key=lambda t: (t.start, t.end))
    return turns


def _distance(r: SpeechRegion, t: float) -> float:
    return 0.0 if r.start <= t <= r.end else min(abs(r.start - t), abs(r.end - t))


def transcript_text(turns: list[Turn], speaker_names: dict[str, str] | None = None) -> str:
    names = speaker_names or {}
    return "\n".join(f"[{t.start:7.2f}–{t.end:7.2f}] {names.get(t.speaker, t.speaker)}: {t.text}" for t in turns)
