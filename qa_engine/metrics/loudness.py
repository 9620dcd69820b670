"""Level of a turn in dBFS, measured on its own channel, over its speech only."""

from __future__ import annotations

import numpy as np

from qa_engine.types import SAMPLE_RATE

FLOOR_DBFS = -100.0


def dbfs(samples: np.ndarray) -> float:
    if samples.size == 0:
        return FLOOR_DBFS
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(FLOOR_DBFS, 20 * np.log10(rms + 1e-12))


def segment_level(samples: np.ndarray, start: float, end: float) -> float:
    # The RMS of a full-scale square wave is 0 dBFS; a full-scale sine reads -3 dBFS.
    a, b = int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)
    return dbfs(samples[a:b])
