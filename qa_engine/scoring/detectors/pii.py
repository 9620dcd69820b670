"""Personal data (保密): phone, ID and bank-card numbers spoken in the call, marked for redaction."""

from __future__ import annotations

import re

from qa_engine.scoring.detectors.base import CallContext, Finding, Params, evidence_of, register
from qa_engine.scoring.matching import normalise_zh
from qa_engine.types import Event

_KINDS = {
    # China mainland mobile numbers; 7-8 digit landlines are too easily confused with amounts.
    "phone": r"(?<!\d)1[3-9]\d{9}(?!\d)",
    "id_number": r"(?<!\d)\d{17}[\dx](?!\d)",
    "bank_card": r"(?<!\d)\d{16,19}(?!\d)",
}


class PiiParams(Params):
    patterns: dict[str, str] = _KINDS


@register("pii", PiiParams)
def pii(ctx: CallContext, p: PiiParams) -> Finding:
    """Digit runs shaped like phone, ID or card numbers, in anyone's speech."""
    rx = {k: re.compile(v, re.IGNORECASE) for k, v in p.patterns.items()}
    events = []
    for t in ctx.turns:
        digits = normalise_zh(t.text)
        taken: list[tuple[int, int]] = []
        for kind, r in rx.items():
            for m in r.finditer(digits):
                if any(m.start() < b and a < m.end() for a, b in taken):
                    continue  # an ID number is not also a card number
                taken.append((m.start(), m.end()))
                masked = m.group()[:3] + "*" * (len(m.group()) - 5) + m.group()[-2:]
                events.append(Event("pii", t.start, t.end, t.speaker, text=masked, phrase=kind,
                                    detail=f"{kind.replace('_', ' ')} spoken", confidence=t.min_confidence))
    return Finding(events=events, passed=not events, value=float(len(events)),
                   detail=f"{len(events)} personal number(s) spoken", evidence=[evidence_of(e) for e in events])


def redact_text(text: str, patterns: dict[str, str] | None = None) -> str:
    """Mask digit runs shaped like personal numbers (digits written as digits or spoken in Chinese)."""
    out = text
    from qa_engine.asr.text import spoken_digits_to_arabic

    out = spoken_digits_to_arabic(out)
    for r in (patterns or _KINDS).values():
        out = re.sub(r, lambda m: m.group()[:3] + "*" * (len(m.group()) - 5) + m.group()[-2:], out,
                     flags=re.IGNORECASE)
    return out
