#!/usr/bin/env python
"""Throughput of each CPU stage per core, and webrtcvad measured as a gate in front of Silero.

Each stage runs on every call, one after the other, in this one process with one
thread for the libraries that have a pool (onnxruntime's Silero already uses one), and
is timed in CPU seconds (`time.process_time`), so the figures hold on a busy machine:
× realtime per core = channel audio seconds / CPU seconds. The stage with the lowest
figure limits how many cores one GPU needs (at 1,000× realtime by call audio, about
1,700× by channel audio: cores = 1,700 / the slowest stage's figure, summed over stages).

The gate: before Silero, `qa_engine.vad` skips stretches at the recording's noise floor
(an energy gate, numpy). webrtcvad (C, GMM) is the other cheap gate the design named.
Both are measured for speed, for how much audio they hand to Silero, and for the share
of Silero's own speech (Silero on the whole channel) they keep — a gate that drops speech
loses words. webrtcvad is not a dependency any more (benchmarks/results_stages.md says
why): it is imported only when installed, and its gate measured only then (the output says
when it was left out); install webrtcvad-wheels to measure it again.

    python benchmarks/stage_throughput.py ../shared/corpus/calls ../shared/corpus/real \
        [--out benchmarks/results_stages.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from faster_whisper.audio import pad_or_trim
from faster_whisper.feature_extractor import FeatureExtractor
from faster_whisper.vad import VadOptions, get_speech_timestamps

from qa_engine import speakers
from qa_engine.asr.batching import plan_windows
from qa_engine.asr.transcribe import chunks_of
from qa_engine.audio import decode
from qa_engine.metrics.loudness import dbfs
from qa_engine.metrics.pitch import pitch_stats
from qa_engine.types import SAMPLE_RATE, SpeechRegion
from qa_engine.vad import GATE_FRAME, VadSettings, _active_spans, speech_regions

SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a")
WEBRTC_FRAME = 480  # 30 ms at 16 kHz
WEBRTC_MODES = (1, 3)


def cpu(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def webrtc_spans(samples: np.ndarray, mode: int) -> list[tuple[int, int]]:
    """Sample ranges webrtcvad calls speech, padded and merged like the energy gate's."""
    import webrtcvad  # optional: main() measures this gate only when it is installed

    vad = webrtcvad.Vad(mode)
    n = samples.size // WEBRTC_FRAME
    pcm = (np.clip(samples[: n * WEBRTC_FRAME], -1, 1) * 32767).astype("<i2").tobytes()
    step = WEBRTC_FRAME * 2
    active = [i for i in range(n) if vad.is_speech(pcm[i * step:(i + 1) * step], SAMPLE_RATE)]
    pad, gap = int(0.5 * SAMPLE_RATE / GATE_FRAME), int(1.5 * SAMPLE_RATE / GATE_FRAME)
    spans: list[list[int]] = []
    for f in active:
        if spans and f - spans[-1][1] <= gap:
            spans[-1][1] = f
        else:
            spans.append([f, f])
    return [(max(0, a - pad) * WEBRTC_FRAME, min(samples.size, (b + pad + 1) * WEBRTC_FRAME)) for a, b in spans]


def silero(samples: np.ndarray, spans: list[tuple[int, int]]) -> list[SpeechRegion]:
    s = VadSettings()
    opts = VadOptions(threshold=s.threshold, min_silence_duration_ms=s.min_silence_ms,
                      min_speech_duration_ms=s.min_speech_ms, speech_pad_ms=s.speech_pad_ms,
                      max_speech_duration_s=s.max_region_s)
    out = []
    for a, b in spans:
        for st in get_speech_timestamps(samples[a:b], opts, sampling_rate=SAMPLE_RATE):
            out.append(SpeechRegion((a + st["start"]) / SAMPLE_RATE, (a + st["end"]) / SAMPLE_RATE))
    return out


def kept(reference: list[SpeechRegion], spans: list[tuple[int, int]]) -> tuple[float, float]:
    """(seconds of `reference` speech inside the spans, seconds of reference speech)."""
    total = sum(r.duration for r in reference)
    inside = 0.0
    for r in reference:
        for a, b in spans:
            inside += max(0.0, min(r.end, b / SAMPLE_RATE) - max(r.start, a / SAMPLE_RATE))
    return inside, total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, help="append a dated markdown section here")
    a = ap.parse_args(argv)
    files = sorted(p for d in a.dirs for p in d.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    fe = FeatureExtractor()
    has_webrtcvad = importlib.util.find_spec("webrtcvad") is not None
    if not has_webrtcvad:
        print("webrtcvad is not installed (pip install webrtcvad-wheels): its rows are left out", file=sys.stderr)
    cpu_s: dict[str, float] = {}
    audio_s: dict[str, float] = {}  # the channel audio each stage saw
    gate: dict[str, dict[str, float]] = {}

    def add(stage: str, seconds: float, audio: float) -> None:
        cpu_s[stage] = cpu_s.get(stage, 0.0) + seconds
        audio_s[stage] = audio_s.get(stage, 0.0) + audio

    def add_gate(name: str, seconds: float, passed: float, inside: float, speech: float, audio: float) -> None:
        g = gate.setdefault(name, {"cpu_s": 0.0, "passed_s": 0.0, "kept_s": 0.0, "speech_s": 0.0, "audio_s": 0.0})
        for k, v in (("cpu_s", seconds), ("passed_s", passed), ("kept_s", inside), ("speech_s", speech),
                     ("audio_s", audio)):
            g[k] += v

    for path in files:
        audio, t = cpu(lambda path=path: decode(path))
        channels = audio.channels
        stereo = channels.shape[0] >= 2 and not speakers.is_dual_mono(channels)
        tracks = [channels[0], channels[1]] if stereo else [channels.mean(axis=0)]
        ch_s = sum(x.size for x in tracks) / SAMPLE_RATE
        add("decode + resample", t, ch_s)
        regions = []
        for x in tracks:
            dur = x.size / SAMPLE_RATE
            r, t = cpu(lambda x=x: speech_regions(x))
            regions.append(r)
            add("VAD (energy gate + Silero, as shipped)", t, dur)
            full, t_full = cpu(lambda x=x: silero(x, [(0, x.size)]))
            add("Silero alone, whole channel", t_full, dur)
            spans, t = cpu(lambda x=x: _active_spans(x))
            add_gate("energy gate (numpy)", t, sum(b - a for a, b in spans) / SAMPLE_RATE, *kept(full, spans), dur)
            for mode in WEBRTC_MODES if has_webrtcvad else ():
                spans, t = cpu(lambda x=x, mode=mode: webrtc_spans(x, mode))
                add_gate(f"webrtcvad mode {mode}", t, sum(b - a for a, b in spans) / SAMPLE_RATE,
                         *kept(full, spans), dur)
        if not stereo:
            _, t = cpu(lambda mono=tracks[0], found=regions[0]: speakers.separate(mono, found))
            add("separation (mono calls only)", t, ch_s)
        signals = {"agent": tracks[0], "customer": tracks[-1]}
        by_party = {"agent": regions[0], "customer": regions[-1]}

        def features(signals: dict = signals, by_party: dict = by_party) -> None:
            for w in plan_windows(signals, chunks_of(by_party)):
                pad_or_trim(fe(w.audio)[..., :-1])

        _, t = cpu(features)
        add("log-mel features (per 30-s window)", t, ch_s)

        def metrics(signals: dict = signals, by_party: dict = by_party) -> None:
            for spk, regs in by_party.items():
                for r in regs:
                    seg = signals[spk][int(r.start * SAMPLE_RATE): int(r.end * SAMPLE_RATE)]
                    dbfs(seg)
                    if spk == "agent":
                        pitch_stats(seg)

        _, t = cpu(metrics)
        add("audio metrics (level; agent pitch, yin)", t, ch_s)

    lines = [f"## {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — {len(files)} calls, "
             f"{audio_s['decode + resample']:.0f} s of channel audio, CPU seconds on one thread", "",
             f"`python benchmarks/stage_throughput.py {' '.join(map(str, a.dirs))}`; load average at the end: "
             f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores). CPU time, not wall time, "
             "so the machine's load does not enter the figures (cache contention still does).", "",
             "| stage | CPU s | channel audio s | × realtime per core |", "|---|---:|---:|---:|"]
    for stage, s in sorted(cpu_s.items(), key=lambda kv: audio_s[kv[0]] / max(kv[1], 1e-9)):
        lines.append(f"| {stage} | {s:.2f} | {audio_s[stage]:.0f} | {audio_s[stage] / max(s, 1e-9):,.0f} |")
    lines += ["", "Gates in front of Silero (per channel; \"kept\" = share of Silero's own speech, Silero run on "
              "the whole channel, that lies inside what the gate passes):", "",
              "| gate | CPU s | × realtime per core | audio passed to Silero | Silero speech kept |",
              "|---|---:|---:|---:|---:|"]
    for name, g in gate.items():
        lines.append(f"| {name} | {g['cpu_s']:.2f} | {g['audio_s'] / max(g['cpu_s'], 1e-9):,.0f} | "
                     f"{g['passed_s'] / g['audio_s']:.1%} | {g['kept_s'] / max(g['speech_s'], 1e-9):.2%} |")
    if not has_webrtcvad:
        lines += ["", "webrtcvad was not installed: its gate is not measured in this run "
                  "(pip install webrtcvad-wheels to measure it)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        header = "" if a.out.is_file() else ("# CPU stages: throughput per core\n\nWritten by "
                                             "`benchmarks/stage_throughput.py`; newest last.\n\n")
        with a.out.open("a", encoding="utf-8") as f:
            f.write(header + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
