"""Phrase matching robust to ASR: exact, regex, and pinyin-level (homophones) with fillers.

Chinese text is compared as a sequence of tokens, one per character; in pinyin mode
each token is the syllable without tone, with the fuzzy pairs Mandarin speakers and
ASR confuse (zh/z, ch/c, sh/s, n/l, -ng/-n), so 不规我管 still matches 不归我管.
A few filler tokens may sit inside a phrase (我也没办法 matches 我没办法).
Exclusions are regexes on the turn's text: a hit inside an exclusion match is
helpful speech ("如果您不知道密码"), not a violation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from pypinyin import Style, pinyin

from qa_engine.asr.text import spoken_digits_to_arabic
from qa_engine.types import Turn

_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_EN_TOKEN = re.compile(r"[a-z0-9]+")
_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))
_FUZZY_FINALS = (("ang", "an"), ("eng", "en"), ("ing", "in"))


@dataclass(frozen=True)
class PhraseSpec:
    """One rubric phrase: literal text or a regex, with its exclusions."""

    name: str  # the phrase as written in the rubric, reported on a hit
    text: str | None = None
    regex: str | None = None
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match:
    phrase: str
    turn: Turn
    start: float  # seconds, from the matched words
    end: float
    quote: str
    how: str  # "exact" | "regex" | "homophone"
    confidence: float


@dataclass
class _Tokens:
    chars: list[str]  # normalised surface tokens (characters for zh, words for en)
    keys: list[frozenset[str]]  # comparison keys: the token itself, or its pinyin readings
    word_index: list[int]  # token -> index into turn.words (-1 if unknown)
    text: str = field(default="")


def normalise_zh(text: str) -> str:
    return _PUNCT.sub("", spoken_digits_to_arabic(text.lower()))


def normalise_en(text: str) -> str:
    return " ".join(_EN_TOKEN.findall(text.lower().replace("'", "").replace("’", "")))


def _fuzzy(py: str) -> str:
    for a, b in _FUZZY_INITIALS:
        if py.startswith(a):
            py = b + py[len(a):]
            break
    for a, b in _FUZZY_FINALS:
        if py.endswith(a):
            py = py[: -len(a)] + b
            break
    return py


@lru_cache(maxsize=20000)
def _syllable(ch: str) -> frozenset[str]:
    """Every reading of a character: ASR picks a character by sound, whichever reading it has
    (看著办 written with 著, read zhù elsewhere, is 看着办 here)."""
    if not ("\u4e00" <= ch <= "\u9fff"):
        return frozenset([ch])
    readings = pinyin(ch, style=Style.NORMAL, heteronym=True)[0]
    return frozenset(_fuzzy(r) for r in readings)


def _tokens(turn: Turn, language: str, fuzzy: bool) -> _Tokens:
    chars: list[str] = []
    index: list[int] = []
    words = turn.words or []
    if language == "zh":
        if words:
            for i, w in enumerate(words):
                for ch in normalise_zh(w.text):
                    chars.append(ch)
                    index.append(i)
        else:
            chars = list(normalise_zh(turn.text))
            index = [-1] * len(chars)
        # Spoken digit runs may span words: normalise the joined text once more.
        joined = "".join(chars)
        if joined != normalise_zh(joined):
            chars = list(normalise_zh(joined))
            index = index[: len(chars)] + [-1] * max(0, len(chars) - len(index))
        keys = [_syllable(c) for c in chars] if fuzzy else [frozenset([c]) for c in chars]
        return _Tokens(chars, keys, index, "".join(chars))
    if words:
        for i, w in enumerate(words):
            for tok in normalise_en(w.text).split():
                chars.append(tok)
                index.append(i)
    else:
        chars = normalise_en(turn.text).split()
        index = [-1] * len(chars)
    return _Tokens(chars, [frozenset([c]) for c in chars], index, " ".join(chars))


def _phrase_keys(text: str, language: str, fuzzy: bool) -> list[frozenset[str]]:
    if language == "zh":
        norm = normalise_zh(text)
        return [_syllable(c) for c in norm] if fuzzy else [frozenset([c]) for c in norm]
    return [frozenset([w]) for w in normalise_en(text).split()]


def _find(keys: list[frozenset[str]], pattern: list[frozenset[str]], max_gap: int) -> list[tuple[int, int]]:
    """Spans [i, j) of `keys` holding `pattern` in order with at most `max_gap` extra tokens inside."""
    found: list[tuple[int, int]] = []
    if not pattern:
        return found
    n = len(keys)
    i = 0
    while i < n:
        if keys[i] & pattern[0]:
            pos, gaps, ok = i + 1, 0, True
            for p in pattern[1:]:
                while pos < n and not (keys[pos] & p) and gaps < max_gap:
                    pos += 1
                    gaps += 1
                if pos >= n or not (keys[pos] & p):
                    ok = False
                    break
                pos += 1
            if ok:
                found.append((i, pos))
                i = pos
                continue
        i += 1
    return found


class PhraseMatcher:
    def __init__(self, phrases: list[PhraseSpec], language: str, fuzzy: bool = True, max_gap: int = 0):
        self.phrases = phrases
        self.language = language
        self.fuzzy = fuzzy and language == "zh"
        self.max_gap = max_gap
        self._exact = {p.name: _phrase_keys(p.text, language, False) for p in phrases if p.text}
        self._fuzzy = {p.name: _phrase_keys(p.text, language, True) for p in phrases if p.text}
        self._regex = {p.name: re.compile(p.regex, re.IGNORECASE) for p in phrases if p.regex}
        self._exclude = {p.name: [re.compile(x, re.IGNORECASE) for x in p.exclude] for p in phrases}

    def find(self, turn: Turn) -> list[Match]:
        exact = _tokens(turn, self.language, fuzzy=False)
        fuzzy = _tokens(turn, self.language, fuzzy=True) if self.fuzzy else exact
        out: list[Match] = []
        for p in self.phrases:
            spans: list[tuple[int, int, str]] = []
            if p.text:
                # A gap is only allowed inside phrases long enough that a filler cannot fake a hit.
                gap = self.max_gap if len(self._exact[p.name]) >= (4 if self.language == "zh" else 2) else 0
                spans = [(a, b, "exact") for a, b in _find(exact.keys, self._exact[p.name], gap)]
                if self.fuzzy:
                    seen = {(a, b) for a, b, _ in spans}
                    # Sound-alike and filler together would match too much (为什么是 ~ 喂什么事):
                    # a homophone match must be contiguous.
                    spans += [(a, b, "homophone") for a, b in _find(fuzzy.keys, self._fuzzy[p.name], 0)
                              if (a, b) not in seen and not any(a < y and x < b for x, y in seen)]
            if p.regex:
                spans += list(self._regex_spans(self._regex[p.name], exact))
            for a, b, how in spans:
                if self._excluded(p, exact, a, b):
                    continue
                out.append(self._match(p, turn, exact, a, b, how))
        return out

    def any_in(self, turn: Turn) -> bool:
        return bool(self.find(turn))

    def _regex_spans(self, rx: re.Pattern[str], toks: _Tokens):
        # Map character offsets in the joined text back to token indices.
        offsets = []
        pos = 0
        sep = "" if self.language == "zh" else " "
        for t in toks.chars:
            offsets.append(pos)
            pos += len(t) + len(sep)
        for m in rx.finditer(toks.text):
            a = max((i for i, o in enumerate(offsets) if o <= m.start()), default=0)
            b = max((i for i, o in enumerate(offsets) if o < m.end()), default=a) + 1
            yield a, b, "regex"

    def _excluded(self, p: PhraseSpec, toks: _Tokens, a: int, b: int) -> bool:
        if not self._exclude[p.name]:
            return False
        sep = "" if self.language == "zh" else " "
        start_char = len(sep.join(toks.chars[:a])) + (len(sep) if a and sep else 0)
        end_char = len(sep.join(toks.chars[:b]))
        for rx in self._exclude[p.name]:
            for m in rx.finditer(toks.text):
                if m.start() < end_char and start_char < m.end():
                    return True
        return False

    def _match(self, p: PhraseSpec, turn: Turn, toks: _Tokens, a: int, b: int, how: str) -> Match:
        idx = [i for i in toks.word_index[a:b] if i >= 0]
        words = turn.words[min(idx): max(idx) + 1] if idx else []
        sep = "" if self.language == "zh" else " "
        quote = sep.join(toks.chars[a:b])
        if words:
            return Match(p.name, turn, words[0].start, words[-1].end, quote, how,
                         min(w.probability for w in words))
        return Match(p.name, turn, turn.start, turn.end, quote, how, turn.min_confidence)


def specs_from(items: list[str | dict]) -> list[PhraseSpec]:
    """Rubric phrase entries (a string, or a mapping with phrase/regex/exclude) -> specs."""
    out = []
    for it in items:
        if isinstance(it, str):
            out.append(PhraseSpec(name=it, text=it))
        else:
            text = it.get("phrase")
            regex = it.get("regex")
            out.append(PhraseSpec(name=str(it.get("name") or text or regex), text=text, regex=regex,
                                  exclude=tuple(it.get("exclude", ()))))
    return out
