"""Pitch of a turn: median F0 and its spread in semitones (flat voice -> small spread).

YIN (de Cheveigné & Kawahara, 2002) in plain numpy, vectorised over frames. Not pYIN:
pYIN runs at about 35x realtime on one core, which alone would cost more than the
ASR. Not librosa.yin: its numba kernels compile for seconds at the first call of
every process, which a one-call CLI pays each time. YIN's own dip depth tells
voiced frames from unvoiced ones.
"""

from __future__ import annotations

import numpy as np

from qa_engine.types import SAMPLE_RATE

FMIN, FMAX = 65.0, 420.0
FRAME = 1024
HOP = 256
VOICED_DIP = 0.2  # CMND minimum under this: a periodic (voiced) frame
MIN_VOICED_FRAMES = 20


def yin(samples: np.ndarray, fmin: float = FMIN, fmax: float = FMAX, frame: int = FRAME,
        hop: int = HOP) -> tuple[np.ndarray, np.ndarray]:
    """F0 per frame (Hz, NaN where unvoiced) and frame RMS."""
    if samples.size < frame:
        return np.zeros(0), np.zeros(0)
    n = 1 + (samples.size - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    x = samples[idx].astype(np.float64)
    w = frame // 2
    tau_max = min(w - 1, int(SAMPLE_RATE / fmin))
    tau_min = max(2, int(SAMPLE_RATE / fmax))
    size = 2 * frame
    spec_full = np.fft.rfft(x, size, axis=1)
    spec_head = np.fft.rfft(x[:, :w], size, axis=1)
    r = np.fft.irfft(np.conj(spec_head) * spec_full, size, axis=1)[:, :w]
    sq = np.concatenate([np.zeros((n, 1)), np.cumsum(x * x, axis=1)], axis=1)
    e0 = sq[:, w][:, None]
    taus = np.arange(w)
    e_tau = sq[:, taus + w] - sq[:, taus]
    d = np.maximum(e0 + e_tau - 2 * r, 0.0)
    cum = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * taus[1:] / np.maximum(cum, 1e-12)
    band = cmnd[:, tau_min: tau_max + 1]
    # First dip under the threshold (avoids octave-down errors), else the global minimum.
    under = band < VOICED_DIP
    first = np.where(under.any(axis=1), under.argmax(axis=1), band.argmin(axis=1))
    # Walk down to the bottom of that dip.
    for _ in range(8):
        nxt = np.minimum(first + 1, band.shape[1] - 1)
        step = band[np.arange(n), nxt] < band[np.arange(n), first]
        first = np.where(step, nxt, first)
    depth = band[np.arange(n), first]
    tau = (first + tau_min).astype(np.float64)
    # Parabolic interpolation around the dip for sub-sample precision.
    left = cmnd[np.arange(n), np.clip(first + tau_min - 1, 0, w - 1)]
    right = cmnd[np.arange(n), np.clip(first + tau_min + 1, 0, w - 1)]
    denom = left - 2 * depth + right
    tau = tau + np.where(np.abs(denom) > 1e-9, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
    f0 = np.where(depth < VOICED_DIP, SAMPLE_RATE / np.maximum(tau, 1.0), np.nan)
    rms = np.sqrt(np.mean(x * x, axis=1))
    return f0, rms


def pitch_stats(samples: np.ndarray) -> tuple[float | None, float | None]:
    """(median F0 in Hz, spread in semitones) of voiced frames, None when too little voice."""
    f0, rms = yin(samples)
    if f0.size == 0:
        return None, None
    loud = rms > np.max(rms) * 10 ** (-25 / 20)  # within 25 dB of the turn's peak
    voiced = f0[loud & np.isfinite(f0)]
    if voiced.size < MIN_VOICED_FRAMES:
        return None, None
    median = float(np.median(voiced))
    st = 12 * np.log2(voiced / median)
    # Octave errors land 12 st away; keep the central mass.
    st = st[np.abs(st) < 9]
    if st.size < MIN_VOICED_FRAMES:
        return median, None
    spread = float(np.percentile(st, 90) - np.percentile(st, 10)) / 2.56  # ~ std for a normal spread
    return median, spread
