"""`qa-engine bench DIR...`: throughput of the engine against bare faster-whisper, one run, same calls.

Four variants, timed over every recording under the folders (recursively), with one
model loaded once and the same decoding options everywhere (beam 5, word timestamps,
condition_on_previous_text off, the call's language given):

* bare          faster-whisper as a user runs it: `decode_audio(split_stereo=...)`, then
                `WhisperModel.transcribe` on each channel, one after the other, no VAD.
                Stereo files count as two channels, as in ../shared/GPU.md. THE BASELINE.
* bare_batched  the same channels through faster-whisper's `BatchedInferencePipeline`
                (batch 16, its own Silero VAD).
* pipeline      `qa_engine.analyze` on each call in turn: the full analysis (findings, scorecard).
* batched       `BatchedAnalyzer.analyze_many` over all calls (`--in-flight` at once, windows of
                many calls decoded in shared batches of `--batch-size`): the full analysis.

Model loading and one warm-up run of each variant are excluded from the timing. With
--repeat N the variants run N passes, the order reversed every other pass; seconds are
the mean per pass. Decoding the file is inside every variant's time (the pipeline's
includes it too). The headline figures are ratios to `bare`; the transcripts of the
engine's two paths are compared (CER on characters for zh, WER on words for en), and
so are their scorecards.

Results: a table on stdout (stderr with --json, which prints one JSON object on stdout),
a dated section appended to --out (markdown), the raw numbers in --json-out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

VARIANTS = ("bare", "bare_batched", "pipeline", "batched")

DESCRIPTION = {
    "bare": "WhisperModel.transcribe per channel, sequential, no VAD",
    "bare_batched": "BatchedInferencePipeline per channel, batch {bare_batch} (Silero VAD)",
    "pipeline": "qa_engine.analyze per call, sequential (full analysis)",
    "batched": "BatchedAnalyzer.analyze_many, batch {batch_size}, {in_flight} calls in flight, "
               "{cpu_workers} CPU worker processes (full analysis)",
}

BENCH_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".m4a")

STAGES = ("decode", "vad", "language", "features", "asr", "turns", "metrics", "semantic", "detectors")

BEAM_SIZE = 5

BARE_BATCH = 16

DEFAULTS = {"cpu": {"batch_size": 8, "in_flight": 8}, "cuda": {"batch_size": 32, "in_flight": 32}}

TARGET_PIPELINE_OVER_BARE = 1.15  # the full analysis at most 15 % slower than bare faster-whisper

TARGET_BATCHED_SPEEDUP = 1.5  # the batched path at least 1.5x faster than bare

TARGET_CER = 0.01  # the batched path's transcripts within 1 % of the sequential path's

DEFAULT_OUT = Path("benchmarks") / "results_throughput.md"

RESULTS_HEADER = (
    "# Throughput: bare faster-whisper, the pipeline, cross-call batching\n\n"
    "Written by `qa-engine bench` (`benchmarks/bench_throughput.py`); one dated section per run, newest last. "
    f"Targets: pipeline ≤ {TARGET_PIPELINE_OVER_BARE} × bare; batched ≥ {TARGET_BATCHED_SPEEDUP} × faster "
    f"than bare; CER batched vs pipeline ≤ {TARGET_CER:.0%}.\n\n"
)



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                   help=f"folders of recordings (searched recursively: {' '.join(BENCH_SUFFIXES)})")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the ASR runs (default cpu)")
    p.add_argument("--compute-type", help="CTranslate2 compute type (default: int8 on cpu, float16 on cuda)")
    p.add_argument("--threads", type=int, default=0, help="cpu_threads of the model (0: ctranslate2's default)")
    p.add_argument("--repeat", type=int, default=1, help="passes over all calls per variant (default 1)")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"comma-separated, from {','.join(VARIANTS)} (default: all)")
    p.add_argument("--model", help="ASR model name from models/manifest.yaml or a model folder (default: base)")
    p.add_argument("--batch-size", type=int, help="batched: windows per batch (default 8 on cpu, 32 on cuda)")
    p.add_argument("--in-flight", type=int, help="batched: calls in flight (default 8 on cpu, 32 on cuda)")
    p.add_argument("--cpu-workers", type=int,
                   help="batched: processes for the CPU stages (default: 0 on cpu, where the ASR needs the cores; "
                        "one per core on cuda)")
    p.add_argument("--lang", choices=["zh", "en"],
                   help="language of every call (default: the labels file next to a call, the file name's "
                        "en_/zh_ prefix, a folder named en/zh, else detected once before timing)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout (the table goes to stderr)")
    p.add_argument("--out", help=f"markdown file to append a dated section to (default: {DEFAULT_OUT} when "
                   "./benchmarks exists; '' for none)")
    p.add_argument("--json-out", type=Path, help="write the raw numbers (with per-call details) here")
