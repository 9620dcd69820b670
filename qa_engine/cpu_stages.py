"""The batched path's CPU stages, run in worker processes: off the ASR process's GIL.

In one process, the per-call CPU work (decoding, resampling, VAD, log-mel features,
turn metrics) of dozens of calls in flight competes for one interpreter lock with
the ASR's own Python (tokenising, word alignment), so the GPU waits on threads that
wait on each other. Here a pool of processes, one per core, does that work; the ASR
process only sends paths and words, and decodes.

What crosses between processes: a call's options and path out; its decoded tracks,
speech windows and their log-mels back (about 4 MB per minute of stereo call); then
tracks and words out again for the turns and their metrics. Language detection,
the semantic stage and the scorecard stay in the ASR process (they need its models).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

from qa_engine.asr.batching import Window, add_features, detection_features, plan_windows
from qa_engine.pipeline import AnalysisOptions, FrontEnd, PreparedCall, _Tracks, front_end, listen
from qa_engine.types import Turn, Word

_features: Any = None  # this worker's log-mel extractor, set up like the model's (its number of mel bands)


@dataclass
class Prepared:
    """What a worker hands back for one call: its front end, windows with features, the language question."""

    front: FrontEnd
    windows: list[Window]
    language_features: np.ndarray | None  # log-mel of the first 30 s of speech; None: the language is known


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def pool(workers: int, feature_kwargs: dict[str, Any]) -> ProcessPoolExecutor:
    """`workers` processes, started clean (forkserver: no copy of the ASR process's threads or model)."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method),
                               initializer=_start, initargs=(feature_kwargs,))


def _start(feature_kwargs: dict[str, Any]) -> None:
    global _features
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one process per core already
    _features = SimpleNamespace(feature_extractor=FeatureExtractor(**feature_kwargs))


def warm_up() -> int:
    """Nothing: submitted once per worker so the pool's start-up cost is paid before the first call."""
    return os.getpid()


def prepare(path: str, opts: AnalysisOptions) -> Prepared:
    """Decode, parties, VAD, speech windows and their log-mels; the log-mel the language is told from."""
    front = front_end(path, opts)
    with front.timer.stage("features"):
        windows = plan_windows(*front.asr_input())
        for w in windows:
            w.call = front.path.name
        add_features(_features, windows)
        language = None if opts.language else detection_features(_features, front.speech())
    return Prepared(front, windows, language)


def measure(call: PreparedCall, words: list[Word]) -> tuple[list[Turn], _Tracks, dict[str, float]]:
    """Turns and their metrics; the call's stage timings with this work added."""
    turns, tracks = listen(call, words)
    return turns, tracks, call.timer.timings
