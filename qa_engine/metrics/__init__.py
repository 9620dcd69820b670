"""Per-turn and per-call measurements: rate, level, pitch, timing."""
