"""Personal numbers in a call: found once (with the times of the words that say them), then masked
everywhere the call's text appears: turns (text, words, utterances), events and scorecard evidence.

`spoken_numbers` is what the `pii` flag reports; `mask_analysis` / `mask_result` are what the
service stores and serves and what `qa-engine analyze --redact` prints. Both read the numbers from
`numbers.find_numbers` over each party's words in time order, so a number read out across a
pause (two turns of the same party, up to `JOIN_GAP_S` apart) is still one number.

A masked digit becomes `*`, whatever it was written as (8, 八, "eight"); separators stay, and
the last four digits of a phone or card number stay readable (尾号 5678, as agents confirm them).
An ID number is masked whole.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from qa_engine.asr.text import join_words
from qa_engine.privacy.numbers import NumberMatch, digit_runs, find_numbers
from qa_engine.types import CallAnalysis, Event, Scorecard, Speaker, Turn

MASK = "*"
KEEP_LAST = {"phone": 4, "bank_card": 4, "id_number": 0}
JOIN_GAP_S = 3.0  # one party's turns this close together may carry one number between them
_TURN_BREAK = "。"  # between turns further apart: never inside a number
_MASKED_NUMBER = re.compile(r"^[*\s\-]*\d{0,4}$")

Edit = tuple[int, int, str]  # replace text[start:end] with the string


@dataclass(frozen=True)
class SpokenNumber:
    """A personal number said in the call: who said it, when (from its words), how it reads masked."""

    kind: str
    speaker: Speaker
    start: float
    end: float
    masked: str  # e.g. *******5678
    confidence: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "speaker": self.speaker, "start": round(self.start, 2),
                "end": round(self.end, 2)}


@dataclass
class _Found:
    numbers: list[SpokenNumber] = field(default_factory=list)
    edits: dict[int, list[Edit]] = field(default_factory=dict)  # turn index -> edits of its text


@dataclass(frozen=True)
class Quotes:
    """What masks a quote from the call (an event's text, a scorecard's evidence): each turn's text as it
    reads masked, and the numbers said, with their times."""

    numbers: list[SpokenNumber]
    turns: dict[str, str]  # a turn's clear text -> the same text masked

    def mask(self, text: str, speaker: str | None, start: float, end: float) -> str:
        """The quote masked: a whole turn as its turn reads; else the numbers it holds and, where it overlaps
        a number said in the call, any run of three or more digits (half of a number read across two turns)."""
        if text in self.turns:
            return self.turns[text]
        out = mask_text(text)
        if _MASKED_NUMBER.match(out):
            return out  # a masked number, as the pii flag quotes it
        if any((speaker is None or n.speaker == speaker) and n.start < end + 0.01 and start < n.end + 0.01
               for n in self.numbers):
            out = _apply(out, [(t.start, t.end, MASK * len(t.digits)) for run in digit_runs(out) for t in run])
        return out


def quotes_of(turns: list[Turn], language: str) -> Quotes:
    """How quotes from a call with these (clear) turns are masked."""
    return _quotes(turns, _locate(turns, language))


def _quotes(turns: list[Turn], found: _Found) -> Quotes:
    return Quotes(found.numbers, {turns[i].text: _apply(turns[i].text, e) for i, e in found.edits.items()})


def spoken_numbers(turns: list[Turn], language: str) -> list[SpokenNumber]:
    """Every phone, ID and card number said in the call, in time order."""
    return _locate(turns, language).numbers


def mask_text(text: str) -> str:
    """`text` with the personal numbers in it masked (no timing: text alone)."""
    return _apply(text, [e for m in find_numbers(text) for e in _edits(m)])


def mask_analysis(analysis: CallAnalysis) -> list[SpokenNumber]:
    """Mask the analysis in place; returns the numbers that were masked."""
    found = _locate(analysis.turns, analysis.call.language)
    quotes = _quotes(analysis.turns, found)
    for i, turn in enumerate(analysis.turns):
        if i in found.edits:
            _mask_turn(turn, found.edits[i], analysis.call.language)
    mask_findings(analysis.events, analysis.scorecard, quotes)
    return found.numbers


def mask_findings(events: Iterable[Event], scorecard: Scorecard | None, quotes: Quotes) -> None:
    """Mask the quotes in events and in the scorecard's evidence (in place)."""
    for e in events:
        if e.text:
            e.text = quotes.mask(e.text, e.speaker, e.start, e.end)
    for item in scorecard.items if scorecard is not None else []:
        for ev in item.evidence:
            ev.text = quotes.mask(ev.text, ev.speaker, ev.start, ev.end)


def mask_result(result: dict[str, Any]) -> tuple[dict[str, Any], list[SpokenNumber]]:
    """A stored analysis (the JSON contract) with its personal numbers masked, and the numbers.
    Keys other than the texts are left exactly as they were."""
    from qa_engine.rescore import turn_from_dict

    language = (result.get("call") or {}).get("language") or "zh"
    turn_dicts = result.get("turns") or []
    turns = [turn_from_dict(t) for t in turn_dicts]
    found = _locate(turns, language)
    quotes = _quotes(turns, found)
    out = dict(result)
    new_turns = []
    for i, (d, turn) in enumerate(zip(turn_dicts, turns, strict=True)):
        if i not in found.edits:
            new_turns.append(d)
            continue
        _mask_turn(turn, found.edits[i], language)
        nd = dict(d, text=turn.text)
        nd["words"] = [dict(w, text=mw.text) for w, mw in zip(d.get("words") or [], turn.words, strict=False)] \
            if turn.words else []
        nd["utterances"] = [dict(u, text=mu.text) for u, mu in zip(d.get("utterances") or [], turn.utterances,
                                                                     strict=False)]
        new_turns.append(nd)
    out["turns"] = new_turns
    if "events" in result:
        out["events"] = mask_event_dicts(result.get("events") or [], quotes)
    if isinstance(result.get("scorecard"), dict):
        out["scorecard"] = mask_scorecard_dict(result["scorecard"], quotes)
    return out, found.numbers


def mask_event_dicts(events: list[dict[str, Any]], quotes: Quotes) -> list[dict[str, Any]]:
    return [dict(e, text=_mask_dict_quote(e, quotes)) if e.get("text") else e for e in events]


def mask_scorecard_dict(card: dict[str, Any], quotes: Quotes) -> dict[str, Any]:
    items = [dict(item, evidence=[dict(ev, text=_mask_dict_quote(ev, quotes)) for ev in item.get("evidence") or []])
             for item in card.get("items") or []]
    return dict(card, items=items)


def _mask_dict_quote(d: dict[str, Any], quotes: Quotes) -> str:
    return quotes.mask(d.get("text") or "", d.get("speaker"), float(d.get("start") or 0), float(d.get("end") or 0))


# ---- finding the numbers in the turns ---------------------------------------------------------------------------

def _locate(turns: list[Turn], language: str) -> _Found:
    found = _Found()
    speakers: list[Speaker] = []
    for t in turns:
        if t.speaker not in speakers:
            speakers.append(t.speaker)
    for speaker in speakers:
        order = sorted((i for i, t in enumerate(turns) if t.speaker == speaker), key=lambda i: turns[i].start)
        doc, starts = "", []
        prev_end: float | None = None
        for i in order:
            if prev_end is not None:
                doc += " " if turns[i].start - prev_end <= JOIN_GAP_S else _TURN_BREAK
            starts.append(len(doc))
            doc += turns[i].text
            prev_end = turns[i].end
        for m in find_numbers(doc):
            found.numbers.append(_number(m, speaker, turns, order, starts, language, found.edits))
    found.numbers.sort(key=lambda n: (n.start, n.end))
    return found


def _number(m: NumberMatch, speaker: Speaker, turns: list[Turn], order: list[int], starts: list[int],
            language: str, edits: dict[int, list[Edit]]) -> SpokenNumber:
    masked = set(_masked_tokens(m))
    times: list[tuple[float, float, float]] = []
    for i, tok in enumerate(m.tokens):
        k = bisect.bisect_right(starts, tok.start) - 1
        ti, off = order[k], starts[k]
        turn = turns[ti]
        a, b = tok.start - off, tok.end - off
        if i in masked:
            edits.setdefault(ti, []).append((a, b, MASK * len(tok.digits)))
        spans = _word_spans(turn, language)
        hit = [w for w, (ws, we, _) in zip(turn.words, spans or [], strict=False) if ws < b and a < we]
        if spans is not None and hit:
            times.extend((w.start, w.end, w.probability) for w in hit)
        else:
            times.append((turn.start, turn.end, turn.min_confidence))
    return SpokenNumber(m.kind, speaker, min(t[0] for t in times), max(t[1] for t in times),
                        "".join(MASK * len(t.digits) if i in masked else t.digits for i, t in enumerate(m.tokens)),
                        min(t[2] for t in times), m.note)


def _masked_tokens(m: NumberMatch) -> list[int]:
    """Indices of the tokens to mask: all but the last digits of a phone or card number."""
    keep, count, last = KEEP_LAST.get(m.kind, 0), 0, len(m.tokens)
    for i in range(len(m.tokens) - 1, -1, -1):
        count += len(m.tokens[i].digits)
        if count > keep:
            break
        last = i
    return list(range(last))


def _edits(m: NumberMatch) -> list[Edit]:
    return [(m.tokens[i].start, m.tokens[i].end, MASK * len(m.tokens[i].digits)) for i in _masked_tokens(m)]


def _apply(text: str, edits: list[Edit]) -> str:
    for a, b, repl in sorted(edits, key=lambda e: e[0], reverse=True):
        text = text[:a] + repl + text[b:]
    return text


# ---- masking a turn: its text, its words, its utterances ---------------------------------------------------------

def _word_spans(turn: Turn, language: str) -> list[tuple[int, int, list[int]]] | None:
    """Where each word stands in the turn's text: (start, end, text position -> position in the word's
    text). None when the text is not the words joined (an analysis stored without them)."""
    if not turn.words:
        return None
    spans: list[tuple[int, int, list[int]]] = []
    pos = 0
    for w in turn.words:
        idx = [k for k, c in enumerate(w.text) if not c.isspace()] if language == "zh" else list(range(len(w.text)))
        spans.append((pos, pos + len(idx), idx))
        pos += len(idx)
    if language != "zh":
        joined = "".join(w.text for w in turn.words)
        lead = len(joined) - len(joined.lstrip())
        spans = [(a - lead, b - lead, idx) for a, b, idx in spans]
    if join_words([w.text for w in turn.words], language) != turn.text:
        return None
    return spans


def _mask_turn(turn: Turn, edits: list[Edit], language: str) -> None:
    clear = turn.text
    spans = _word_spans(turn, language)
    if spans is not None:
        for wi, (ws, we, idx) in enumerate(spans):
            local = [(max(a, ws) - ws, min(b, we) - ws, repl if a >= ws else "") for a, b, repl in edits
                     if a < we and ws < b]
            if local:
                w = turn.words[wi]
                word_edits = [(idx[max(0, a)] if a < len(idx) else len(w.text),
                               idx[b - 1] + 1 if b - 1 < len(idx) else len(w.text), r) for a, b, r in local]
                turn.words[wi] = replace(w, text=_apply(w.text, word_edits))
    elif turn.words:
        turn.words = []  # words that do not add up to the text cannot be masked one by one: not kept
    turn.text = _apply(clear, edits)
    cursor = 0
    for u in turn.utterances:
        at = clear.find(u.text, cursor) if u.text else -1
        if at < 0:
            u.text = mask_text(u.text)
            continue
        u.text = _apply(u.text, [(a - at, b - at, r) for a, b, r in edits if at <= a and b <= at + len(u.text)])
        cursor = at + len(u.text)
