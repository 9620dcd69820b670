"""Detectors, one module each; importing this package registers them all by name."""

from qa_engine.scoring.detectors import (  # noqa: F401  (imported to register)
    agent_conduct,
    agent_confidence,
    answer_delay,
    apology,
    customer_emotion,
    dead_air,
    escalation,
    forbidden_phrase,
    interruptions,
    intonation,
    pii,
    polite_language,
    script,
    speech_rate,
    volume,
)
from qa_engine.scoring.detectors.base import REGISTRY, CallContext, Finding

__all__ = ["REGISTRY", "CallContext", "Finding"]
