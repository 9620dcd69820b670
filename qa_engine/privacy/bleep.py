"""The recording with the personal numbers bleeped: what is played instead of the clear original.

The spans come from the words that said each number (qa_engine.privacy.masking), widened by
`pad_s` on each side because word timestamps are approximate (the ASR's last word of a number
often ends 0.1-0.3 s before the voice does). Inside a span every channel is replaced by a
1 kHz tone (or silence), with 10 ms fades so the edits do not click; outside the spans the
samples are those of the original, at its own rate and channel count. Written as 16-bit FLAC
(lossless, about half the size of WAV; every browser plays it).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from qa_engine.audio import DEFAULT_MAX_DURATION_S, decode
from qa_engine.privacy.masking import SpokenNumber

BleepMode = Literal["tone", "silence"]
TONE_HZ = 1000.0
TONE_DBFS = -18.0
FADE_S = 0.01
DEFAULT_PAD_S = 0.4
MEDIA_TYPE = "audio/flac"


def bleep_spans(numbers: Iterable[SpokenNumber], pad_s: float = DEFAULT_PAD_S,
                length_s: float | None = None) -> list[tuple[float, float]]:
    """The stretches of the recording to bleep: each number's words, padded, overlapping ones merged."""
    spans = sorted((max(0.0, n.start - pad_s), n.end + pad_s if length_s is None else min(length_s, n.end + pad_s))
                   for n in numbers)
    merged: list[tuple[float, float]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def bleeped_flac(src: str | Path, spans: list[tuple[float, float]], mode: BleepMode = "tone",
                 max_duration_s: float = DEFAULT_MAX_DURATION_S) -> bytes:
    """The recording at `src` with `spans` (seconds) replaced by a tone or silence, as FLAC bytes."""
    audio = decode(src, max_duration_s, source_rate=True)
    samples = audio.channels.copy()
    rate = audio.rate
    for start, end in spans:
        i0, i1 = max(0, int(start * rate)), min(samples.shape[1], int(np.ceil(end * rate)))
        if i1 <= i0:
            continue
        samples[:, i0:i1] = _tone(i1 - i0, rate) if mode == "tone" else 0.0
    pcm = np.clip(np.round(samples.T * 32768.0), -32768, 32767).astype(np.int16)
    out = io.BytesIO()
    sf.write(out, pcm, rate, format="FLAC", subtype="PCM_16")
    return out.getvalue()


def _tone(n: int, rate: int) -> np.ndarray:
    t = np.arange(n, dtype=np.float64) / rate
    wave = 10 ** (TONE_DBFS / 20) * np.sin(2 * np.pi * TONE_HZ * t)
    fade = min(n // 2, int(FADE_S * rate))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        wave[:fade] *= ramp
        wave[n - fade:] *= ramp[::-1]
    return wave.astype(np.float32)
