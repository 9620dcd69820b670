"""Errors a user can act on. Each message names the problem and, where it helps, the fix."""


class QAError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "qa_error"


class AudioError(QAError):
    """The recording cannot be analysed (corrupt, empty, silent, not audio, too long)."""

    code = "bad_audio"


class RubricError(QAError):
    """A rubric file is missing or invalid; the message names file, item and field."""

    code = "bad_rubric"


class ModelError(QAError):
    """The ASR model cannot be found, assembled or verified."""

    code = "model_unavailable"


class TranscriptError(QAError):
    """A transcript given as input cannot be read: not JSON, or turns missing or malformed."""

    code = "bad_transcript"
