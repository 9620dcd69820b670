"""The one analyzer a worker process shares between its threads (in-process pool or Celery threads).

One model and one batch scheduler per process: the speech windows of every call its
threads are analysing are decoded in shared batches, which is what keeps a GPU busy.
With QA_BATCH_SIZE=0 each call is decoded on its own, with the same model, loaded once.
The ASR options are built here, once, from the settings; gpu/worker.py builds the analyzer.
"""

from __future__ import annotations

import gc
import logging
import threading
from pathlib import Path

from api.config import Settings
from gpu.worker import make_analyzer
from qa_engine import AnalysisOptions, AsrOptions, CallAnalysis, ModelError, QAError
from qa_engine.asr.batching import BatchStats
from qa_engine.batched import BatchedAnalyzer, SequentialAnalyzer

log = logging.getLogger("api.jobs")


def asr_options(settings: Settings) -> AsrOptions:
    """The ASR the settings ask for (compute type "default" is resolved for the device by gpu/)."""
    return AsrOptions(model=settings.asr_model, device=settings.asr_device, compute_type=settings.asr_compute_type,
                      cpu_threads=settings.asr_threads)


def batch_size(settings: Settings) -> int | None:
    """QA_BATCH_SIZE where it was set (or on the CPU, its default); None: on cuda, chosen from free memory."""
    explicit = "batch_size" in settings.model_fields_set  # QA_BATCH_SIZE or --batch-size
    return settings.batch_size if explicit or settings.asr_device == "cpu" else None


class SharedAnalyzer:
    """Built once per process, at start (preload) or by the first call; `status` is what /readyz shows.

    A failed build is not final: the next call tries again (the model may have been
    put in place since), and until then every call fails with the reason, as before.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.asr = asr_options(settings)
        self.status = "loading"
        self._lock = threading.Lock()
        self._analyzer: BatchedAnalyzer | SequentialAnalyzer | None = None

    def load(self) -> None:
        """Build it now unless built; raises (a QAError) with the reason when it cannot be."""
        with self._lock:
            if self._analyzer is not None:
                return
            try:
                analyzer = make_analyzer(self.asr, batch_size(self.settings), self.settings.batch_wait_s)
            except Exception as exc:
                self.status = f"unavailable: {exc}"
                log.error("ASR model not available on %s: %s", self.asr.device, exc)
                if isinstance(exc, QAError):
                    raise
                raise ModelError(f"cannot set up the ASR on {self.asr.device}: {type(exc).__name__}: {exc}") from exc
            self._analyzer, self.status = analyzer, "ok"
            gc.freeze()  # the model's objects live as long as the process: see api.main's lifespan

    def preload(self) -> None:
        """At start, in the background: built now (QA_PRELOAD_MODEL), else only checked to be there.

        Built, not only found: a model that cannot load on the configured device (no CUDA,
        no cuBLAS, a broken model) shows on /readyz before any call is taken.
        """
        try:
            if self.settings.preload_model:
                self.load()
            else:  # built by the first call
                from qa_engine.asr.models import resolve

                resolve(self.settings.asr_model)
                self.status = "ok"
        except Exception as exc:
            if not self.status.startswith("unavailable"):  # load() records and logs its own reason
                self.status = f"unavailable: {exc}"
                log.error("ASR model not available: %s", exc)

    def analyze(self, path: Path, options: AnalysisOptions) -> CallAnalysis:
        self.load()
        assert self._analyzer is not None
        return self._analyzer.analyze(path, options)

    @property
    def stats(self) -> BatchStats | None:
        """The batch scheduler's counters (None: not built, or the sequential path)."""
        return self._analyzer.stats if self._analyzer is not None else None
