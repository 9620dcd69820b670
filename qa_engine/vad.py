"""Speech regions per track, from the Silero VAD model that ships inside faster-whisper.

The same regions feed the ASR (only speech is decoded), the level and pitch
metrics (measured on speech, not on line noise) and the silence detectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from qa_engine.types import SAMPLE_RATE, SpeechRegion


@dataclass(frozen=True)
class VadSettings:
    threshold: float = 0.5
    # Short enough to end a turn at a real pause, long enough not to split words.
    min_silence_ms: int = 400
    min_speech_ms: int = 150
    speech_pad_ms: int = 150
    max_region_s: float = 28.0  # an ASR window is 30 s


def speech_regions(samples: np.ndarray, settings: VadSettings | None = None) -> list[SpeechRegion]:
    s = settings or VadSettings()
    if samples.size < SAMPLE_RATE // 10:
        return []
    options = VadOptions(
        threshold=s.threshold,
        min_silence_duration_ms=s.min_silence_ms,
        min_speech_duration_ms=s.min_speech_ms,
        speech_pad_ms=s.speech_pad_ms,
        max_speech_duration_s=s.max_region_s,
    )
    regions: list[SpeechRegion] = []
    # Silero only where there is sound: on a stereo call each side is quiet half the time,
    # and the neural VAD costs more than the rest of the front end together.
    for a, b in _active_spans(samples):
        stamps = get_speech_timestamps(samples[a:b], options, sampling_rate=SAMPLE_RATE)
        regions += [SpeechRegion((a + st["start"]) / SAMPLE_RATE, (a + st["end"]) / SAMPLE_RATE) for st in stamps]
    return regions


GATE_FRAME = 480  # 30 ms
GATE_OVER_FLOOR_DB = 6.0  # quiet speech sits well over the line noise; only near-floor stretches are skipped
GATE_PAD_S = 0.5
GATE_MIN_GAP_S = 1.5


def _active_spans(samples: np.ndarray) -> list[tuple[int, int]]:
    """Sample ranges holding sound over the recording's own noise floor, padded and merged."""
    n = samples.size // GATE_FRAME
    if n < 10:
        return [(0, samples.size)]
    frames = samples[: n * GATE_FRAME].reshape(n, GATE_FRAME).astype(np.float64)
    db = 10 * np.log10(np.mean(frames * frames, axis=1) + 1e-12)
    floor, loud = float(np.percentile(db, 10)), float(np.percentile(db, 90))
    # A recording with no quiet stretch (speech throughout, a compressed clip) has its 10th
    # percentile inside the speech: the gate then opens 20 dB under its loud parts.
    active = np.flatnonzero(db > min(floor + GATE_OVER_FLOOR_DB, loud - 20.0))
    if active.size == 0:
        return []
    pad = int(GATE_PAD_S * SAMPLE_RATE / GATE_FRAME)
    gap = int(GATE_MIN_GAP_S * SAMPLE_RATE / GATE_FRAME)
    spans: list[list[int]] = []
    for f in active.tolist():
        if spans and f - spans[-1][1] <= gap:
            spans[-1][1] = f
        else:
            spans.append([f, f])
    return [(max(0, a - pad) * GATE_FRAME, min(samples.size, (b + pad + 1) * GATE_FRAME)) for a, b in spans]


def total_duration(regions: list[SpeechRegion]) -> float:
    return sum(r.duration for r in regions)


def union(*region_lists: list[SpeechRegion]) -> list[SpeechRegion]:
    """Merge regions of several tracks into non-overlapping spans where anyone speaks."""
    spans = sorted((r for rl in region_lists for r in rl), key=lambda r: r.start)
    merged: list[SpeechRegion] = []
    for r in spans:
        if merged and r.start <= merged[-1].end:
            if r.end > merged[-1].end:
                merged[-1] = SpeechRegion(merged[-1].start, r.end)
        else:
            merged.append(r)
    return merged


def clip(regions: list[SpeechRegion], start: float, end: float) -> list[SpeechRegion]:
    """The parts of `regions` inside [start, end]."""
    out = []
    for r in regions:
        s, e = max(r.start, start), min(r.end, end)
        if e > s:
            out.append(SpeechRegion(s, e))
    return out
