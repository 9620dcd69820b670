"""Many calls in flight, their speech decoded in shared batches.

The same stages as `pipeline.analyze`, arranged for throughput: each call's CPU
front end (decode, parties, VAD, log-mel features) and its turns and metrics run in
the caller's thread, or in a pool of worker processes (`cpu_workers`, qa_engine.cpu_stages:
off this process's interpreter lock, so many cores feed one GPU), while one scheduler
thread keeps the ASR model busy with batches of speech windows from every call
waiting on it. Language detection, the semantic stage and the scorecard stay here,
with the models.

`analyze_many` keeps `in_flight` calls going: as soon as a call's words are back its
slot takes the next call, so windows keep arriving while others are decoded, and the
scheduler holds a partial batch while more are coming (asr/batching.py).

    analyzer = BatchedAnalyzer(AsrOptions(), batch_size=8)
    for path, result in analyzer.analyze_many(paths, AnalysisOptions()):
        ...
    analyzer.close()

`analyze` is safe to call from any number of threads (the service's workers do).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from qa_engine.asr.batching import (
    DEFAULT_MAX_WAIT_S,
    BatchScheduler,
    BatchStats,
    DecodeBatch,
    Ticket,
    add_features,
    plan_windows,
)
from qa_engine.asr.transcribe import AsrOptions, load_model
from qa_engine.errors import QAError
from qa_engine.pipeline import AnalysisOptions, PreparedCall, analyze, conclude, finish, prepare, ready
from qa_engine.types import CallAnalysis, Word

log = logging.getLogger("qa_engine")

DEFAULT_BATCH_SIZE = 8  # on the CPU, 4 to 16 decode at about the same speed; a GPU host picks its own (gpu/)


def cpu_workers_for(device: str) -> int:
    """Processes for the CPU stages: one per core feeding a GPU; none on a CPU host (its ASR needs the cores)."""
    if device != "cuda":
        return 0
    from qa_engine.cpu_stages import cores

    return cores()


class BatchedAnalyzer:
    """One model, one scheduler; calls analysed from any number of threads share its batches.

    Every call is decoded with the analyzer's `asr` options (its model was loaded with
    them); a call's `AnalysisOptions` choose everything else (language, rubric, channel).

    `cpu_workers`: processes for the CPU stages (decode, VAD, features, turn metrics;
    qa_engine.cpu_stages), so that many cores feed one GPU; 0: they run in the calling
    threads, sharing this process's interpreter lock with the ASR (enough on a CPU host,
    where the ASR itself is the bottleneck and needs the cores).
    `decode` stands in for the model's batched decode (tests only).
    """

    def __init__(self, asr: AsrOptions | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_wait_s: float = DEFAULT_MAX_WAIT_S, decode: DecodeBatch | None = None,
                 cpu_workers: int = 0) -> None:
        self.asr = asr or AsrOptions()
        self.model, self.resolved = load_model(self.asr)
        self.scheduler = BatchScheduler(self.model, batch_size=batch_size, max_wait_s=max_wait_s, decode=decode)
        self.cpu_workers = max(0, cpu_workers)
        self._pool = None
        if self.cpu_workers:
            from qa_engine import cpu_stages

            self._pool = cpu_stages.pool(self.cpu_workers, self.model.feat_kwargs)
            # Every worker started and its imports done before the first call (seconds each).
            for f in [self._pool.submit(cpu_stages.warm_up) for _ in range(self.cpu_workers)]:
                f.result()

    @property
    def stats(self) -> BatchStats:
        return self.scheduler.stats

    def analyze(self, path: str | Path, options: AnalysisOptions | None = None) -> CallAnalysis:
        """Like `pipeline.analyze`; blocks while this call's windows wait for their batches."""
        opts = replace(options or AnalysisOptions(), asr=self.asr)
        with self.scheduler.producing():
            call, ticket = self._submit(path, opts)
        with call.timer.stage("asr"):
            words = ticket.result()
        return self._finish(call, words)

    def _submit(self, path: str | Path, opts: AnalysisOptions) -> tuple[PreparedCall, Ticket]:
        """The call's front end, then its windows queued for the ASR (not waited for)."""
        if self._pool is not None:
            from qa_engine import cpu_stages

            done = self._pool.submit(cpu_stages.prepare, str(path), opts).result()
            front = done.front
            with front.timer.stage("language"):
                if opts.language:
                    language, source = opts.language, "metadata"
                else:
                    language = self.scheduler.detect_language(np.zeros(0, np.float32), done.language_features)
                    source = "detected"
            call = ready(front, language, source, self.resolved.name)
            return call, self.scheduler.submit(done.windows, call.language, call.asr)
        call = prepare(path, opts, self.model, self.resolved.name, detect=self.scheduler.detect_language)
        with call.timer.stage("features"):
            signals, chunks = call.asr_input()
            windows = plan_windows(signals, chunks)
            for w in windows:
                w.call = call.path.name
            add_features(self.model, windows)
        return call, self.scheduler.submit(windows, call.language, call.asr)

    def _finish(self, call: PreparedCall, words: list[Word]) -> CallAnalysis:
        """Turns and metrics (in a CPU worker, where there are any), then semantic, detectors, scorecard."""
        if self._pool is None:
            return finish(call, words)
        from qa_engine import cpu_stages

        turns, tracks, timings = self._pool.submit(cpu_stages.measure, call, words).result()
        call.timer.timings = timings
        return conclude(call, turns, tracks)

    def analyze_many(self, paths: Iterable[str | Path],
                     options: AnalysisOptions | Callable[[Path], AnalysisOptions] | None = None,
                     in_flight: int = 4) -> Iterator[tuple[Path, CallAnalysis | QAError]]:
        """Every call's result (or the reason it could not be analysed), as each finishes.

        `options` is one set for every call, or a function giving each call its own
        (its language, rubric, agent channel), as the service has them.

        `in_flight` calls are prepared and decoded at once; more calls in flight fill
        bigger batches, at the cost of memory (about 2 MB per minute of call audio).
        Each of the `in_flight` slots takes the next call as soon as its last one is
        through the ASR, and counts as "preparing" meanwhile: the scheduler holds a
        partial batch for it (up to its `max_wait_s`) rather than sending it short.
        """
        feed = _Feed(paths)
        done: queue.Queue[tuple[Path, CallAnalysis | QAError] | None] = queue.Queue()

        def slot() -> None:
            with self.scheduler.producing():
                while (path := feed.take()) is not None:
                    opts = options(path) if callable(options) else options
                    done.put((path, self._one(path, replace(opts or AnalysisOptions(), asr=self.asr), feed)))
            done.put(None)

        slots = [threading.Thread(target=slot, name=f"call-{i}", daemon=True) for i in range(max(1, in_flight))]
        for t in slots:
            t.start()
        try:
            running = len(slots)
            while running:
                item = done.get()
                if item is None:
                    running -= 1
                else:
                    yield item
        finally:
            feed.stop()  # the caller stopped reading: the slots finish their calls and take no more

    def _one(self, path: Path, opts: AnalysisOptions, feed: _Feed) -> CallAnalysis | QAError:
        """One call in a slot of `analyze_many` (inside the scheduler's `producing`)."""
        try:
            call, ticket = self._submit(path, opts)
            with self.scheduler.waiting(), call.timer.stage("asr"):
                words = ticket.result()
            if feed.more():  # this slot prepares the next call right after
                return self._finish(call, words)
            with self.scheduler.waiting():
                return self._finish(call, words)
        except QAError as exc:
            return exc
        except Exception as exc:  # a bug on one call must not stop the other thousands
            log.exception("analysing %s failed", path)
            return QAError(f"internal error while analysing this call ({type(exc).__name__}); "
                           "the log has the details")

    def close(self) -> None:
        self.scheduler.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BatchedAnalyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SequentialAnalyzer:
    """Each call decoded on its own (`pipeline.analyze`) with the analyzer's ASR options, the model loaded once."""

    stats = None  # no scheduler

    def __init__(self, asr: AsrOptions | None = None) -> None:
        self.asr = asr or AsrOptions()
        self.model, self.resolved = load_model(self.asr)

    def analyze(self, path: str | Path, options: AnalysisOptions | None = None) -> CallAnalysis:
        return analyze(path, replace(options or AnalysisOptions(), asr=self.asr))

    def close(self) -> None:
        pass


class _Feed:
    """The calls still to analyse, taken one at a time by the slots of `analyze_many`."""

    def __init__(self, paths: Iterable[str | Path]) -> None:
        self._paths = iter(paths)
        self._lock = threading.Lock()
        self._next: Path | None = None
        self._stopped = False

    def take(self) -> Path | None:
        with self._lock:
            self._peek()
            path, self._next = self._next, None
            return path

    def more(self) -> bool:
        with self._lock:
            self._peek()
            return self._next is not None

    def stop(self) -> None:
        with self._lock:
            self._stopped, self._next = True, None

    def _peek(self) -> None:
        if self._next is None and not self._stopped:
            p = next(self._paths, None)
            self._next = None if p is None else Path(p)
