"""Pitch: median F0 and spread in semitones, on synthetic voiced tones."""

from __future__ import annotations

import numpy as np
import pytest

from qa_engine.metrics.pitch import pitch_stats, yin
from qa_engine.types import SAMPLE_RATE


def _voiced(f0: np.ndarray) -> np.ndarray:
    """A voice-like harmonic tone following the F0 track (Hz per sample)."""
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    sig = sum(np.sin(k * phase) / k for k in range(1, 6))
    return (0.2 * sig / np.max(np.abs(sig))).astype(np.float32)


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE


@pytest.mark.parametrize("hz", [110.0, 180.0, 250.0])
def test_flat_tone_has_its_pitch_and_no_spread(hz):
    median, spread = pitch_stats(_voiced(np.full(len(_t(2.0)), hz)))
    assert median == pytest.approx(hz, rel=0.02)
    assert spread is not None and spread < 0.15


def test_vibrato_of_two_semitones_spreads_about_1_4():
    t = _t(3.0)
    f0 = 180.0 * 2 ** (2.0 * np.sin(2 * np.pi * 3 * t) / 12)
    median, spread = pitch_stats(_voiced(f0))
    assert median == pytest.approx(180.0, rel=0.05)
    assert spread == pytest.approx(1.4, abs=0.25)


def test_wider_movement_spreads_more():
    t = _t(3.0)
    narrow = pitch_stats(_voiced(180.0 * 2 ** (1.0 * np.sin(2 * np.pi * 3 * t) / 12)))[1]
    wide = pitch_stats(_voiced(180.0 * 2 ** (4.0 * np.sin(2 * np.pi * 3 * t) / 12)))[1]
    assert narrow is not None and wide is not None and wide > 2 * narrow


def test_noise_has_no_pitch():
    noise = np.random.default_rng(0).standard_normal(SAMPLE_RATE * 2).astype(np.float32) * 0.1
    assert pitch_stats(noise) == (None, None)
    f0, _ = yin(noise)
    assert np.mean(np.isfinite(f0)) < 0.1


def test_agent_turns_of_a_real_call_have_a_lively_pitch(analysed):
    turns = [t for t in analysed("zh_interrupting_agent").turns if t.speaker == "agent"]
    assert all(t.pitch_median_hz is not None and 70 < t.pitch_median_hz < 400 for t in turns)
    assert all(t.pitch_spread_st is None for t in analysed("zh_interrupting_agent").turns
               if t.speaker == "customer")
