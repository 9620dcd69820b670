"""Speaking rate: Chinese characters (or English words) per minute over the turn's own span."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa_engine.asr.text import count_units
from qa_engine.types import Turn

_NUMBER = re.compile(r"\d+(?:\.\d+)?%?")
# Turns shorter than this give rates that mean little (one word over half a second).
MIN_SPAN_S = 0.8


@dataclass(frozen=True)
class RateBand:
    """The standard's speaking rate, in units a minute (Chinese characters, English words).

    `low`..`high` is the standard rate; under `slow_below` or over `fast_above` is a violation.
    """

    low: float
    high: float
    slow_below: float
    fast_above: float

    def credit(self, rate: float) -> float:
        """How much a stretch spoken at `rate` counts as spoken at the standard rate.

        1 inside the band; between the band and a violation limit from 1 down to 0.5, by how
        far out (faster than the band is not yet a violation, but it is not the standard
        either); 0 past the limits.
        """
        if self.low <= rate <= self.high:
            return 1.0
        if rate > self.high:
            edge, limit, past = self.high, self.fast_above, rate > self.fast_above
        else:
            edge, limit, past = self.low, self.slow_below, rate < self.slow_below
        if past:
            return 0.0
        return 1.0 - 0.5 * abs(rate - edge) / abs(limit - edge)


# The service standard (SERVICE_STANDARD.md): zh 150-260 chars/min, over 300 a violation; en 120-170
# words/min, over 200 a violation. It names no slow limit: 120 / 90 (4/5 and 3/4 of the band's floor)
# are where the default rubrics have always put it.
STANDARD_RATES = {"zh": RateBand(150.0, 260.0, 120.0, 300.0), "en": RateBand(120.0, 170.0, 90.0, 200.0)}


def spoken_units(text: str, language: str) -> int:
    """Units as spoken: ASR writes "320" where the agent said 三百二十 (four syllables)."""
    if language != "zh":
        return count_units(text, language)
    extra = 0
    for m in _NUMBER.finditer(text):
        extra += _zh_number_syllables(m.group()) - 1  # count_units counted the number as one
    return count_units(text, language) + extra


def _zh_number_syllables(num: str) -> int:
    percent = num.endswith("%")
    num = num.rstrip("%")
    whole, _, frac = num.partition(".")
    n = 3 if percent else 0  # 百分之
    n += len(frac) + (1 if frac else 0)  # 点 + digits read one by one
    if len(whole) > 5 or whole.startswith("0"):
        return n + len(whole)  # phone, card and ID numbers are read digit by digit
    value = int(whole) if whole else 0
    if value == 0:
        return n + 1
    digits = str(value)
    count = 0
    zero_pending = False
    for i, d in enumerate(digits):
        place = len(digits) - 1 - i
        if d == "0":
            zero_pending = True
            continue
        if zero_pending:
            count += 1  # 零
            zero_pending = False
        # 十 alone at the head of a two-digit number: 十二, not 一十二
        if not (d == "1" and place == 1 and i == 0):
            count += 1
        if place > 0:
            count += 1  # 十 / 百 / 千 / 万
    return n + count


def turn_rate(turn: Turn, language: str) -> tuple[int, float | None]:
    units = spoken_units(turn.text, language)
    span = turn.end - turn.start
    if span < MIN_SPAN_S or units == 0:
        return units, None
    return units, units / span * 60.0
