"""Many calls in flight, their speech decoded in shared batches.

The same stages as `pipeline.analyze`, arranged for throughput: each call's CPU
front end (decode, parties, VAD, language, log-mel features) and back end (turns,
metrics, detectors, scorecard) run in the caller's thread, while one scheduler
thread keeps the ASR model busy with batches of speech windows from every call
waiting on it. So the CPU stages of one call overlap the ASR of the others and
never sit on the model's critical path.

    analyzer = BatchedAnalyzer(AsrOptions(), batch_size=8)
    for path, result in analyzer.analyze_many(paths, AnalysisOptions()):
        ...
    analyzer.close()

`analyze` is safe to call from any number of threads (the service's workers do).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from qa_engine.asr.batching import BatchScheduler, BatchStats, add_features, plan_windows
from qa_engine.asr.transcribe import AsrOptions, load_model
from qa_engine.errors import QAError
from qa_engine.pipeline import AnalysisOptions, finish, prepare
from qa_engine.types import CallAnalysis

log = logging.getLogger("qa_engine")

DEFAULT_BATCH_SIZE = 8  # on the CPU, 4 to 16 decode at about the same speed; a GPU host picks its own (gpu/)


class BatchedAnalyzer:
    """One model, one scheduler; calls analysed from any number of threads share its batches."""

    def __init__(self, asr: AsrOptions | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_wait_s: float = 0.2) -> None:
        self.asr = asr or AsrOptions()
        self.model, self.resolved = load_model(self.asr)
        self.scheduler = BatchScheduler(self.model, batch_size=batch_size, max_wait_s=max_wait_s)

    @property
    def stats(self) -> BatchStats:
        return self.scheduler.stats

    def analyze(self, path: str | Path, options: AnalysisOptions | None = None) -> CallAnalysis:
        """Like `pipeline.analyze`; blocks while this call's windows wait for their batches."""
        opts = options or AnalysisOptions(asr=self.asr)
        with self.scheduler.producing():
            call = prepare(path, opts, self.model, self.resolved.name, detect=self.scheduler.detect_language)
            with call.timer.stage("features"):
                signals, chunks = call.asr_input()
                windows = plan_windows(signals, chunks)
                add_features(self.model, windows)
        with call.timer.stage("asr"):
            words = self.scheduler.transcribe(windows, call.language, call.asr)
        return finish(call, words)

    def analyze_many(self, paths: Iterable[str | Path],
                     options: AnalysisOptions | Callable[[Path], AnalysisOptions] | None = None,
                     in_flight: int = 4) -> Iterator[tuple[Path, CallAnalysis | QAError]]:
        """Every call's result (or the reason it could not be analysed), as each finishes.

        `options` is one set for every call, or a function giving each call its own
        (its language, rubric, agent channel), as the service has them.

        `in_flight` calls are prepared and decoded at once; more calls in flight fill
        bigger batches, at the cost of memory (about 2 MB per minute of call audio).
        """
        todo = iter(paths)
        with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="call") as pool:
            running: dict[Future[CallAnalysis], Path] = {}

            def top_up() -> None:
                while len(running) < in_flight:
                    p = next(todo, None)
                    if p is None:
                        return
                    opts = options(Path(p)) if callable(options) else options
                    running[pool.submit(self.analyze, p, opts)] = Path(p)

            top_up()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    path = running.pop(fut)
                    try:
                        yield path, fut.result()
                    except QAError as exc:
                        yield path, exc
                    except Exception as exc:  # a bug on one call must not stop the other thousands
                        log.exception("analysing %s failed", path)
                        yield path, QAError(f"internal error while analysing this call ({type(exc).__name__}); "
                                            "the log has the details")
                top_up()

    def close(self) -> None:
        self.scheduler.close()

    def __enter__(self) -> BatchedAnalyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
