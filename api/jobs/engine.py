"""The one analyzer a worker process shares between its threads (in-process pool or Celery threads).

One model and one batch scheduler per process: the speech windows of every call its
threads are analysing are decoded in shared batches, which is what keeps a GPU busy.
With QA_BATCH_SIZE=0 each call is decoded on its own (`qa_engine.analyze`), with the
same model, loaded once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path

import qa_engine
from api.config import Settings
from gpu.device import require_cuda
from gpu.worker import asr_options, make_analyzer
from qa_engine import AnalysisOptions, AsrOptions, CallAnalysis, ModelError, QAError
from qa_engine.asr.batching import BatchStats
from qa_engine.asr.transcribe import load_model
from qa_engine.batched import BatchedAnalyzer

log = logging.getLogger("api.jobs")


class SharedAnalyzer:
    """Built once per process, at start (preload) or by the first call; `status` is what /readyz shows.

    A failed build is not final: the next call tries again (the model may have been
    put in place since), and until then every call fails with the reason, as before.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.status = "loading"
        self._lock = threading.Lock()
        self._asr: AsrOptions | None = None  # what the model was loaded with; None: not built yet
        self._batched: BatchedAnalyzer | None = None

    def load(self) -> None:
        """Build it now unless built; raises (a QAError) with the reason when it cannot be."""
        with self._lock:
            if self._asr is not None:
                return
            try:
                batched = None
                if self.settings.batch_size > 0:
                    batched = make_analyzer(self.settings)
                    asr = batched.asr
                else:
                    if self.settings.asr_device == "cuda":
                        require_cuda()
                    asr = asr_options(self.settings)
                    load_model(asr)  # cached for qa_engine.analyze
            except Exception as exc:
                self.status = f"unavailable: {exc}"
                log.error("ASR model not available on %s: %s", self.settings.asr_device, exc)
                if isinstance(exc, QAError):
                    raise
                raise ModelError(f"cannot set up the ASR on {self.settings.asr_device}: "
                                 f"{type(exc).__name__}: {exc}") from exc
            self._asr, self._batched, self.status = asr, batched, "ok"

    def analyze(self, path: Path, options: AnalysisOptions) -> CallAnalysis:
        self.load()
        assert self._asr is not None
        # The call's options carry the device and the requested compute type; the model
        # was loaded with the resolved one ("default" -> int8 / float16 ...).
        opts = replace(options, asr=replace(options.asr, device=self._asr.device,
                                            compute_type=self._asr.compute_type))
        if self._batched is None:
            return qa_engine.analyze(path, opts)
        return self._batched.analyze(path, opts)

    @property
    def stats(self) -> BatchStats | None:
        """The batch scheduler's counters (None: not built, or the sequential path)."""
        return self._batched.stats if self._batched is not None else None
