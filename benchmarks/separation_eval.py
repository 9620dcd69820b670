#!/usr/bin/env python3
"""How well mono mixes are separated into two speakers: duration-weighted accuracy of the
speaker label against labelled turns (labels.json from callsynth, or an RTTM file), under the
best mapping of the two clusters to the two speakers.

Usage: separation_eval.py MONO.wav LABELS.json|RTTM [MONO.wav LABELS ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from qa_engine.audio import decode
from qa_engine.speakers import separate
from qa_engine.vad import VadSettings, speech_regions


def load_turns(path: Path) -> list[tuple[float, float, str]]:
    if path.suffix == ".rttm":
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        return [(float(r[3]), float(r[3]) + float(r[4]), r[7]) for r in rows]
    return [(t["start"], t["end"], t["speaker"]) for t in json.loads(path.read_text())["turns"]]


def accuracy(audio: Path, turns: list[tuple[float, float, str]]) -> float:
    mono = decode(audio).channels.mean(axis=0)
    # The same VAD setting the pipeline uses for mono mixes.
    segments = separate(mono, speech_regions(mono, VadSettings(min_silence_ms=250)))
    first = sorted({spk for _, _, spk in turns})[0]
    agree = total = 0.0
    for seg in segments:
        for start, end, spk in turns:
            overlap = max(0.0, min(seg.end, end) - max(seg.start, start))
            total += overlap
            agree += overlap * ((seg.label == 0) == (spk == first))
    return max(agree, total - agree) / total if total else 0.0


def main() -> int:
    args = [Path(a) for a in sys.argv[1:]]
    if not args or len(args) % 2:
        print(__doc__, file=sys.stderr)
        return 2
    scores = []
    for audio, labels in zip(args[::2], args[1::2], strict=True):
        acc = accuracy(audio, load_turns(labels))
        scores.append(acc)
        print(f"{acc:.3f}  {audio.name}")
    print(f"mean {sum(scores) / len(scores):.3f} over {len(scores)} recordings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
