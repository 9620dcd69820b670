"""Transcripts as input: a call transcribed elsewhere, or a chat, read and validated.

The file is JSON (UTF-8):

    {"lang": "zh" | "en",
     "turns": [{"speaker": "agent" | "customer", "start": 0.8, "end": 6.2, "text": "您好，..."}, ...]}

Times are seconds from the start of the call, on the clock a recording of it would have
(the connect offset and ring time are given beside it, as for a recording). `lang` may be
left out when the caller names the language. Anything else is refused with a message that
names the turn and the field, so the sender can fix the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qa_engine.audio import DEFAULT_MAX_DURATION_S
from qa_engine.errors import TranscriptError
from qa_engine.paths import check_input_file
from qa_engine.types import Speaker

MAX_BYTES = 5 * 1024 * 1024  # a 3-hour call is well under 1 MB of JSON
MAX_TURNS = 20_000
MAX_TEXT_CHARS = 20_000  # one turn
# Text a call of the longest length analysed can hold: two people talking without a pause say about
# 10 characters a second between them. The bound keeps one upload from holding a worker for minutes.
MAX_CHARS_PER_S = 20


@dataclass(frozen=True)
class TranscriptTurn:
    speaker: Speaker
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    language: str | None  # "zh" | "en"; None: the caller names it
    turns: tuple[TranscriptTurn, ...]  # in time order

    @property
    def length_s(self) -> float:
        return max(t.end for t in self.turns)


class _TurnIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    speaker: Literal["agent", "customer"]
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str = Field(max_length=MAX_TEXT_CHARS)

    @model_validator(mode="after")
    def _consistent(self) -> _TurnIn:
        if self.end < self.start:
            raise ValueError(f"ends ({self.end:g} s) before it starts ({self.start:g} s)")
        if not self.text.strip():
            raise ValueError("text is empty")
        return self


class _TranscriptIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    lang: Literal["zh", "en"] | None = None
    turns: list[_TurnIn] = Field(min_length=1, max_length=MAX_TURNS)


def read_transcript(path: str | Path, max_duration_s: float = DEFAULT_MAX_DURATION_S) -> Transcript:
    """A transcript file, validated; a TranscriptError names what is wrong."""
    p = Path(path)
    check_input_file(p, TranscriptError, "no such file")
    size = p.stat().st_size
    if size > MAX_BYTES:
        raise TranscriptError(f"{p.name}: {size / 1e6:.0f} MB is too large for a transcript "
                              f"(at most {MAX_BYTES // (1024 * 1024)} MB)")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise TranscriptError(f"{p}: cannot be read ({exc.strerror})") from exc
    return loads_transcript(raw, p.name, max_duration_s)


def loads_transcript(raw: bytes, source: str = "transcript",
                     max_duration_s: float = DEFAULT_MAX_DURATION_S) -> Transcript:
    """A transcript from the bytes of a JSON document (a file, an upload's part)."""
    if len(raw) > MAX_BYTES:
        raise TranscriptError(f"{source}: too large for a transcript (at most {MAX_BYTES // (1024 * 1024)} MB)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TranscriptError(f"{source}: not UTF-8 text (byte {exc.start}): a transcript is a JSON file") from exc
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise TranscriptError(f"{source}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    except ValueError as exc:
        raise TranscriptError(f"{source}: not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise TranscriptError(f"{source}: nested too deeply to be a transcript") from exc
    return parse_transcript(data, source, max_duration_s)


def parse_transcript(data: Any, source: str = "transcript",
                     max_duration_s: float = DEFAULT_MAX_DURATION_S) -> Transcript:
    """A transcript from parsed JSON."""
    if not isinstance(data, dict):
        raise TranscriptError(f"{source}: a transcript is a JSON object "
                              f'{{"lang": ..., "turns": [...]}}, got {_json_type(data)}')
    try:
        parsed = _TranscriptIn.model_validate(data)
    except ValidationError as exc:
        raise TranscriptError(f"{source}: " + "; ".join(_message(e) for e in exc.errors()[:5])) from exc
    longest = max(t.end for t in parsed.turns)
    if longest > max_duration_s:
        raise TranscriptError(f"{source}: the call runs to {longest:g} s, longer than the {max_duration_s:g} s "
                              "analysed at most")
    chars = sum(len(t.text) for t in parsed.turns)
    if chars > MAX_CHARS_PER_S * max_duration_s:
        raise TranscriptError(f"{source}: {chars} characters of text is more than a call of at most "
                              f"{max_duration_s:g} s holds ({MAX_CHARS_PER_S * max_duration_s:.0f})")
    turns = sorted((TranscriptTurn(t.speaker, t.start, t.end, t.text.strip()) for t in parsed.turns),
                   key=lambda t: (t.start, t.end))
    return Transcript(language=parsed.lang, turns=tuple(turns))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _json_type(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _message(err: Any) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
    kind, msg = err["type"], err["msg"]
    got = json.dumps(err.get("input"), ensure_ascii=False)[:40]
    if kind == "extra_forbidden":
        msg = "unknown field (a transcript has lang and turns; a turn has speaker, start, end and text)"
    elif kind == "missing":
        msg = "missing"
    elif kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    elif kind in ("float_type", "finite_number"):
        msg = f"must be a number of seconds, got {got}"
    elif kind == "literal_error":
        msg = f"{msg.replace('Input should be', 'must be')}, got {got}"
    elif kind == "too_short" and where == "turns":
        msg = "no turns: a transcript needs at least one"
    return f"{where}: {msg}" if where else msg
