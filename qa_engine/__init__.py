"""qa_engine: a recorded call in; transcript, findings and the filled QA scorecard out."""

from qa_engine.asr.transcribe import AsrOptions
from qa_engine.errors import AudioError, ModelError, QAError, RubricError
from qa_engine.pipeline import AnalysisOptions, analyze
from qa_engine.types import CallAnalysis

__all__ = ["AnalysisOptions", "AsrOptions", "AudioError", "CallAnalysis", "ModelError", "QAError",
           "RubricError", "analyze"]
__version__ = "0.1.0"
