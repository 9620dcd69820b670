"""Shared fixtures: fixture paths, labels, the ASR model (once per session), analysed calls,
a builder of detector contexts from plain turn descriptions, and the semantic model that labels them."""

from __future__ import annotations

import csv
import json
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CALLS = FIXTURES / "calls"
REAL = FIXTURES / "real"


# Chinese digit characters as the ASR may write a number read out (一三八 for 138: on some CPUs the
# int8 kernels tip it to numerals, on others to Arabic digits).
_ZH_DIGITS = str.maketrans("零〇一幺二两三四五六七八九", "0011223456789")


def as_digits(text: str) -> str:
    """`text` with spoken Chinese digits as 0-9 and the separators between digits (or masks) taken out,
    so that 一三八,一二三四五六七八 reads 13812345678 and ***,****五六七八 reads *******5678."""
    return re.sub(r"(?<=[\d*])[\s,，、\-]+(?=[\d*])", "", text.translate(_ZH_DIGITS))


def call_file(call_id: str) -> Path:
    """The audio file of a labelled call (stereo, .ulaw.wav or .mono.wav)."""
    files = json.loads((CALLS / f"{call_id}.labels.json").read_text(encoding="utf-8"))["files"]
    return CALLS / next(iter(files.values()))


def call_labels(call_id: str) -> dict[str, Any]:
    return json.loads((CALLS / f"{call_id}.labels.json").read_text(encoding="utf-8"))


def overlap_s(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return max(0.0, min(a_end, b_end) - max(a_start, b_start))


@pytest.fixture(scope="session")
def labels() -> Callable[[str], dict[str, Any]]:
    return call_labels


@pytest.fixture(scope="session")
def call_path() -> Callable[[str], Path]:
    return call_file


@pytest.fixture(scope="session")
def references() -> list[dict[str, str]]:
    with (REAL / "references.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for r in rows:
        r["path"] = str(REAL / r["file"])
    return rows


@pytest.fixture(scope="session")
def asr_model():
    """The bundled Whisper base model, resolved (assembled and verified) and loaded once."""
    from qa_engine.asr.transcribe import AsrOptions, load_model

    model, _resolved = load_model(AsrOptions())
    return model


@pytest.fixture(scope="session")
def analysed(asr_model) -> Callable[[str], Any]:
    """call id -> CallAnalysis of that fixture call, analysed once per session."""
    from qa_engine import AnalysisOptions, analyze

    cache: dict[str, Any] = {}

    def get(call_id: str):
        if call_id not in cache:
            cache[call_id] = analyze(call_file(call_id), AnalysisOptions())
        return cache[call_id]

    return get


def build_context(language: str, turns: list[dict[str, Any]], length_s: float | None = None,
                  ring_s: float | None = None):
    """A CallContext from plain turn descriptions, the way the pipeline would build it.

    Each turn: speaker, text, and optionally start/end (seconds; default: placed one after the
    other at about 270 units a minute), level (dBFS), confidence (ASR word probability), attribution
    (how sure the party is, 0-1, as a mono mix's separation gives it).
    Words are one per character (zh) or per word (en); each turn is one speech region.
    `ring_s`: how long the call rang before it connected (the recording starts at connect).
    """
    from qa_engine.asr.text import count_units
    from qa_engine.metrics.rate import turn_rate
    from qa_engine.metrics.timing import call_metrics
    from qa_engine.scoring.detectors import CallContext
    from qa_engine.types import SpeechRegion, Turn, Utterance, Word

    built: list[Turn] = []
    t = 1.0
    for spec in turns:
        text = spec["text"]
        units = max(1, count_units(text, language))
        start = float(spec.get("start", t))
        end = float(spec.get("end", start + units * 0.22))
        t = end + 0.6
        tokens = list(text) if language == "zh" else [f" {w}" for w in text.split()]
        step = (end - start) / len(tokens)
        prob = float(spec.get("confidence", 0.95))
        words = [Word(tok, start + i * step, start + (i + 1) * step, prob, spec["speaker"])
                 for i, tok in enumerate(tokens)]
        level = spec.get("level")
        turn = Turn(speaker=spec["speaker"], start=start, end=end, text=text, words=words,
                    utterances=[Utterance(start, end, text, level)], level_dbfs=level,
                    attribution=float(spec.get("attribution", 1.0)))
        turn.units, turn.rate_per_min = turn_rate(turn, language)
        built.append(turn)
    built.sort(key=lambda x: x.start)
    regions = {spk: [SpeechRegion(x.start, x.end) for x in built if x.speaker == spk]
               for spk in ("agent", "customer")}
    length = length_s if length_s is not None else max((x.end for x in built), default=0.0) + 1.0
    metrics = call_metrics(length, regions, built, ring_s=ring_s)
    return CallContext(language=language, turns=built, regions=regions, metrics=metrics, length_s=length)


@pytest.fixture(scope="session")
def make_context() -> Callable[..., Any]:
    return build_context


@pytest.fixture(scope="session")
def semantic_model():
    """The default semantic model (encoder and heads, verified), loaded once per session."""
    from qa_engine.semantic import models

    return models.load()


@pytest.fixture(scope="session")
def make_labelled_context(semantic_model) -> Callable[..., Any]:
    """build_context, then the semantic stage over its turns, as the pipeline runs it before the detectors."""
    from qa_engine.semantic.stage import label_turns

    def build(language: str, turns: list[dict[str, Any]], length_s: float | None = None):
        ctx = build_context(language, turns, length_s)
        ctx.semantic = label_turns(ctx.turns, semantic_model)
        return ctx

    return build


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails: a model that loads under it loads offline."""
    def refuse(*_args, **_kwargs):
        raise OSError("network use in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
