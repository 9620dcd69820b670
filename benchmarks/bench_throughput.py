#!/usr/bin/env python
"""Throughput: bare faster-whisper vs the pipeline vs cross-call batching, same calls, one run.

A thin wrapper around `qa-engine bench` (benchmarks/throughput/, which `qa-engine bench --help`
describes in full). Run by hand, not part of the test suite:

    . .venv/bin/activate
    python benchmarks/bench_throughput.py ../shared/corpus/calls                  # CPU, all four variants
    python benchmarks/bench_throughput.py ../shared/corpus/calls --repeat 3 --threads 2
    python benchmarks/bench_throughput.py AUDIO_DIR --device cuda --json-out results.json   # on a GPU host
    python benchmarks/bench_throughput.py AUDIO_DIR --variants bare,batched --batch-size 16 --in-flight 16

Variants: bare (WhisperModel.transcribe per channel, no VAD: the baseline), bare_batched
(faster-whisper's BatchedInferencePipeline, batch 16), pipeline (qa_engine.analyze per call),
batched (BatchedAnalyzer.analyze_many). A dated section is appended to
benchmarks/results_throughput.md (--out to choose another file), with PASS/MISS lines for the
targets: pipeline ≤ 1.15 × bare, batched ≥ 1.5 × faster than bare, CER batched vs pipeline ≤ 1 %.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere: the repo's packages

from qa_engine.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
