"""qa_engine: a recorded call in; transcript, findings and the filled QA scorecard out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qa_engine.errors import AudioError, ModelError, QAError, RubricError, TranscriptError

if TYPE_CHECKING:
    from qa_engine.asr.transcribe import AsrOptions
    from qa_engine.pipeline import AnalysisOptions, analyze, analyze_transcript
    from qa_engine.transcript import read_transcript
    from qa_engine.types import CallAnalysis

__all__ = ["AnalysisOptions", "AsrOptions", "AudioError", "CallAnalysis", "ModelError", "QAError",
           "RubricError", "TranscriptError", "analyze", "analyze_transcript", "read_transcript"]
__version__ = "0.1.0"

# The pipeline pulls in the ASR, numpy, librosa and scikit-learn (seconds of imports): loaded on first
# use, so `qa-engine --help`, the errors and the service's start do not pay for it.
_LAZY = {"AnalysisOptions": "qa_engine.pipeline", "analyze": "qa_engine.pipeline",
         "analyze_transcript": "qa_engine.pipeline", "read_transcript": "qa_engine.transcript",
         "AsrOptions": "qa_engine.asr.transcribe", "CallAnalysis": "qa_engine.types"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qa_engine' has no attribute {name!r}")
