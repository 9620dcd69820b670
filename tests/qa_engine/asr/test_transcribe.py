"""Transcription of real speech with the bundled model: accuracy against reference transcripts."""

from __future__ import annotations

import re

import pytest

from qa_engine.asr.batching import transcribe_chunks
from qa_engine.asr.text import edit_distance, to_simplified
from qa_engine.asr.transcribe import AsrOptions, chunks_of, detect_language, pack_speech
from qa_engine.audio import decode
from qa_engine.vad import speech_regions

# Whisper base on clean read speech; a broken pipeline (wrong rate, channels, timestamps) is far worse.
MAX_CER_ZH = 0.35
MAX_WER_EN = 0.35


def _zh_chars(text: str) -> list[str]:
    return re.findall(r"[\u4e00-\u9fff]", text)


def _en_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _transcribe(model, path: str, language: str):
    audio = decode(path)
    mono = audio.channels.mean(axis=0)
    regions = speech_regions(mono)
    assert regions, "speech found"
    words = transcribe_chunks(model, {"agent": mono}, chunks_of({"agent": regions}), language, AsrOptions())
    assert {w.speaker for w in words} <= {"agent"}
    return audio, regions, words


def _ids(refs):
    return [r["file"] for r in refs]


@pytest.fixture(scope="module")
def zh_refs(references):
    return [r for r in references if r["language"] == "zh"]


@pytest.fixture(scope="module")
def en_refs(references):
    return [r for r in references if r["language"] == "en"]


def test_chinese_clips_character_error_rate_and_simplified_output(asr_model, zh_refs):
    assert len(zh_refs) >= 3
    errors = total = 0
    for ref in zh_refs:
        _, _, words = _transcribe(asr_model, ref["path"], "zh")
        text = "".join(w.text for w in words)
        assert text == to_simplified(text), f"traditional characters in {text}"
        hyp, want = _zh_chars(text), _zh_chars(ref["transcript"])
        cer = edit_distance(want, hyp) / len(want)
        assert cer <= 0.5, f"{ref['file']}: CER {cer:.2f}: {text} vs {ref['transcript']}"
        errors += edit_distance(want, hyp)
        total += len(want)
    assert errors / total <= MAX_CER_ZH


def test_english_clips_word_error_rate(asr_model, en_refs):
    assert len(en_refs) >= 2
    errors = total = 0
    for ref in en_refs:
        _, _, words = _transcribe(asr_model, ref["path"], "en")
        hyp, want = _en_words("".join(w.text for w in words)), _en_words(ref["transcript"])
        errors += edit_distance(want, hyp)
        total += len(want)
    assert errors / total <= MAX_WER_EN


def test_word_timestamps_lie_on_the_recording_clock(asr_model, zh_refs):
    audio, regions, words = _transcribe(asr_model, zh_refs[0]["path"], "zh")
    assert words
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    for w in words:
        assert 0.0 <= w.start <= w.end <= audio.duration + 0.05
        assert 0.0 <= w.probability <= 1.0
        assert any(r.start - 0.5 <= w.start <= r.end + 0.5 for r in regions)


def test_language_is_detected(asr_model, zh_refs, en_refs):
    for ref, want in [(zh_refs[0], "zh"), (en_refs[0], "en")]:
        audio = decode(ref["path"])
        mono = audio.channels.mean(axis=0)
        speech, _ = pack_speech({"agent": mono}, chunks_of({"agent": speech_regions(mono)}))
        assert detect_language(asr_model, speech) == want, ref["file"]


def test_no_speech_gives_no_words(asr_model):
    import numpy as np

    silence = np.zeros(16000, dtype=np.float32)
    assert transcribe_chunks(asr_model, {"agent": silence}, [], "zh", AsrOptions()) == []
