"""Text normalisation shared by ASR output, metrics and phrase matching."""

from __future__ import annotations

import re
from functools import lru_cache

from opencc import OpenCC

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)*")
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
