"""Text normalisation shared by ASR output, metrics and phrase matching."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from opencc import OpenCC

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)*")
_SCORED_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
_CN_DIGITS = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
              "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
# A run of three or more spoken digits (phone, card, ID numbers, 12315) reads as digits.
_CN_DIGIT_RUN = re.compile(r"[零〇一幺二两三四五六七八九]{3,}")


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    return _t2s().convert(text) if _HAN.search(text) else text


def count_units(text: str, language: str) -> int:
    """Chinese characters (zh) or words (other languages); punctuation never counts."""
    if language == "zh":
        # Latin words inside Chinese speech (brand names, "OK") count one unit each.
        return len(_HAN.findall(text)) + len(_LATIN_WORD.findall(_HAN.sub(" ", text)))
    return len(_LATIN_WORD.findall(text))


def spoken_digits_to_arabic(text: str) -> str:
    return _CN_DIGIT_RUN.sub(lambda m: "".join(_CN_DIGITS[c] for c in m.group()), text)


def join_words(words: list[str], language: str) -> str:
    """Whisper words carry their own leading spaces in English; Chinese words join directly."""
    text = "".join(words)
    return text.strip() if language != "zh" else re.sub(r"\s+", "", text)


def scoring_tokens(text: str, language: str) -> list[str]:
    """What error rates count. zh: characters (simplified), no punctuation or spaces;
    en: lowercased words, no punctuation."""
    if language == "zh":
        return [c for c in to_simplified(text) if c.isalnum()]
    return [w.replace("'", "") for w in _SCORED_WORD.findall(text.lower().replace("’", "'"))]


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences (one numpy row at a time)."""
    if not a:
        return len(b)
    if not b:
        return len(a)
    ids: dict[str, int] = {}
    bv = np.array([ids.setdefault(t, len(ids)) for t in b], dtype=np.int64)
    steps = np.arange(len(b) + 1, dtype=np.int64)
    prev = steps.copy()
    for i, tok in enumerate(a, 1):
        x = ids.get(tok, -1)
        cur = np.empty_like(prev)
        cur[0] = i
        cur[1:] = np.minimum(prev[:-1] + (bv != x), prev[1:] + 1)  # substitution / match, deletion
        # insertion: cur[j] = min over k <= j of cur[k] + (j - k)
        prev = np.minimum.accumulate(cur - steps) + steps
    return int(prev[-1])


def error_rate(reference: str, hypothesis: str, language: str) -> float:
    """CER (zh) or WER (en) of `hypothesis` against `reference`."""
    ref = scoring_tokens(reference, language)
    return edit_distance(ref, scoring_tokens(hypothesis, language)) / max(1, len(ref))
