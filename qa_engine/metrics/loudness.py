"""Level of a turn in dBFS, measured on its own channel, over its speech only."""

from __future__ import annotations

import numpy as np

FLOOR_DBFS = -100.0


def dbfs(samples: np.ndarray) -> float:
    """RMS level: a full-scale square wave reads 0 dBFS, a full-scale sine -3 dBFS."""
    if samples.size == 0:
        return FLOOR_DBFS
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(FLOOR_DBFS, 20 * np.log10(rms + 1e-12))
