"""Recorded calls through the real engine (ASR included): the numbers the customer reads out are found where
they were said and masked everywhere; the agent's amounts, hotline and work-order number stay readable; the
bleeped recording differs from the original where the numbers were said, and only there."""

from __future__ import annotations

import copy
import io
import json

import numpy as np
import pytest
import soundfile as sf

from qa_engine.audio import decode
from qa_engine.privacy.bleep import TONE_DBFS, bleep_spans, bleeped_flac
from qa_engine.privacy.masking import mask_analysis
from qa_engine.privacy.numbers import digit_runs
from qa_engine.types import SAMPLE_RATE


def _said(labels: dict) -> list[tuple[str, float, float]]:
    """(kind, start, end) of each number as the call's labels place it."""
    return [(p["kind"], labels["turns"][p["turn"]]["start"], labels["turns"][p["turn"]]["end"])
            for p in labels["expect"]["pii"]]


def _masked_call(analysed, call_id: str):
    analysis = copy.deepcopy(analysed(call_id))
    clear = analysis.to_dict()
    numbers = mask_analysis(analysis)
    return clear, analysis.to_dict(), numbers


def _longest_readable_run(text: str) -> int:
    return max((sum(len(t.digits) for t in run) for run in digit_runs(text, 1)), default=0)


@pytest.mark.parametrize("call_id", ["zh_pii_numbers", "en_pii_numbers"])
def test_numbers_read_out_are_found_and_masked(call_id, analysed, labels) -> None:
    clear, masked, numbers = _masked_call(analysed, call_id)
    lab = labels(call_id)
    for kind, start, end in _said(lab):
        hits = [n for n in numbers if n.speaker == "customer" and n.start < end and start < n.end]
        assert hits, f"the {kind} said at {start:.1f}-{end:.1f} s was not found: {clear['turns']}"
        assert kind in [n.kind for n in hits]
    assert "pii" in masked["scorecard"]["flags"]
    for ct, mt in zip(clear["turns"], masked["turns"], strict=True):
        words = "".join(w["text"] for w in mt["words"])
        assert (words if call_id.startswith("zh") else words.strip()) == mt["text"], "words add up to the text"
        if mt["speaker"] == "customer":
            # what the customer read out: at most the last four digits of a number stay readable
            assert _longest_readable_run(mt["text"]) <= 4, (ct["text"], mt["text"])
            assert all(_longest_readable_run(u["text"]) <= 4 for u in mt["utterances"])
        else:  # the agent's amounts, hotline and work-order number: left as the ASR wrote them
            assert mt == ct
    clear_digit_runs = {"".join(t.digits for t in run) for t in clear["turns"] if t["speaker"] == "customer"
                        for run in digit_runs(t["text"], 7)}
    assert clear_digit_runs, "the ASR wrote the numbers"
    dumped = json.dumps({k: masked[k] for k in ("turns", "events", "scorecard")}, ensure_ascii=False)
    for digits in clear_digit_runs:
        assert digits[:7] not in dumped.replace("-", "").replace(",", "").replace(" ", "")


def test_bleeped_recording_differs_only_where_the_numbers_were_said(analysed, labels, call_path) -> None:
    _, _, numbers = _masked_call(analysed, "zh_pii_numbers")
    path = call_path("zh_pii_numbers")
    original = decode(path)
    spans = bleep_spans(numbers, 0.4, original.duration)
    for kind, start, end in _said(labels("zh_pii_numbers")):  # each number's voice inside a bleep
        assert any(a <= start and end <= b for a, b in spans), (kind, start, end, spans)
    flac = bleeped_flac(path, spans)
    info = sf.info(io.BytesIO(flac))
    assert (info.format, info.samplerate, info.channels) == ("FLAC", 8000, 2), "the original's rate and channels"
    bleeped = _decode_bytes(flac)
    assert bleeped.channels.shape == original.channels.shape
    inside = np.zeros(original.channels.shape[1], dtype=bool)
    near = np.zeros_like(inside)
    for a, b in spans:
        inside[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)] = True
        near[max(0, int((a - 0.02) * SAMPLE_RATE)):int((b + 0.02) * SAMPLE_RATE)] = True
    diff = np.abs(bleeped.channels - original.channels)
    assert diff[:, ~near].max() < 1e-3, "outside the bleeps the samples are the original's"
    core = inside.copy()
    for a, b in spans:  # leave out the 10 ms fades
        core[int(a * SAMPLE_RATE):int((a + 0.02) * SAMPLE_RATE)] = False
        core[int((b - 0.02) * SAMPLE_RATE):int(b * SAMPLE_RATE)] = False
    for ch in bleeped.channels:
        rms_db = 20 * np.log10(np.sqrt(np.mean(ch[core] ** 2)))
        assert abs(rms_db - (TONE_DBFS - 3.01)) < 0.5, "a 1 kHz tone in place of the voice"
        spectrum = np.abs(np.fft.rfft(ch[core][:SAMPLE_RATE]))
        assert abs(np.argmax(spectrum) * SAMPLE_RATE / min(SAMPLE_RATE, int(core.sum())) - 1000) < 5
    assert np.mean(diff[1][core]) > 0.05, "the customer's voice is replaced in the bleeps"


def test_silence_instead_of_a_tone(analysed, call_path) -> None:
    _, _, numbers = _masked_call(analysed, "zh_pii_numbers")
    path = call_path("zh_pii_numbers")
    spans = bleep_spans(numbers, 0.4)
    silent = _decode_bytes(bleeped_flac(path, spans, "silence"))
    a, b = spans[0]
    assert np.abs(silent.channels[:, int((a + 0.05) * SAMPLE_RATE):int((b - 0.05) * SAMPLE_RATE)]).max() < 1e-3


def _decode_bytes(data: bytes):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "bleeped.flac"
        p.write_bytes(data)
        return decode(p)
