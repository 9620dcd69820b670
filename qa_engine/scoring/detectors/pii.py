"""Personal data (保密): phone, ID and bank-card numbers said in the call, flagged for the inspector.

The numbers come from the one recogniser (qa_engine.privacy), the same that masks them in
what the service stores and serves; the event's time is that of the words that said it.
"""

from __future__ import annotations

from typing import Literal

from qa_engine.privacy.masking import spoken_numbers
from qa_engine.scoring.detectors.base import CallContext, Finding, Params, evidence_of, register
from qa_engine.types import Event

Kind = Literal["phone", "id_number", "bank_card"]


class PiiParams(Params):
    kinds: list[Kind] = ["phone", "id_number", "bank_card"]  # which numbers raise the flag


@register("pii", PiiParams)
def pii(ctx: CallContext, p: PiiParams) -> Finding:
    """Phone, ID-card and bank-card numbers, in anyone's speech, written in digits or spoken."""
    events = []
    for n in spoken_numbers(ctx.turns, ctx.language):
        if n.kind not in p.kinds:
            continue
        detail = f"{n.kind.replace('_', ' ')} spoken" + (f" ({n.note})" if n.note else "")
        events.append(Event("pii", n.start, n.end, n.speaker, text=n.masked, phrase=n.kind, detail=detail,
                            confidence=n.confidence))
    return Finding(events=events, passed=not events, value=float(len(events)),
                   detail=f"{len(events)} personal number(s) spoken", evidence=[evidence_of(e) for e in events])
