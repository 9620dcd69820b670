"""The one way to build a process's analyzer: checked for its device, compute type and batch size chosen, logged.

Engine types in, an analyzer out; nothing here knows where the options came from
(the service builds them once from its settings, api/jobs/engine.py).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
from faster_whisper import WhisperModel

from gpu.batch_size import batch_size_for_memory
from gpu.device import DEVICES, README_HINT, compute_type, free_memory_bytes, require_cuda
from qa_engine.asr.batching import DEFAULT_MAX_WAIT_S
from qa_engine.asr.transcribe import AsrOptions, load_model
from qa_engine.batched import DEFAULT_BATCH_SIZE, BatchedAnalyzer, SequentialAnalyzer, cpu_workers_for
from qa_engine.errors import ModelError
from qa_engine.types import SAMPLE_RATE

log = logging.getLogger("gpu")

# When the GPU's free memory cannot be measured (no PyTorch, no nvidia-smi): a size the
# bare benchmark ran well at (batch 16: 109-135x realtime on the H100) and that fits in
# a few GB.
UNMEASURED_GPU_BATCH = 16


def make_analyzer(asr: AsrOptions, batch_size: int | None = None, max_wait_s: float = DEFAULT_MAX_WAIT_S,
                  cpu_workers: int | None = None) -> BatchedAnalyzer | SequentialAnalyzer:
    """The model loaded on `asr.device` behind one batch scheduler, for every thread of this process.

    `asr.compute_type` "default" is resolved for the device (int8 on the CPU; float16 or
    what the GPU offers). `batch_size`: windows per batch; None: the CPU default, or on
    cuda chosen from the GPU's free memory; 0: no scheduler, each call decoded on its own.
    `cpu_workers`: processes for the CPU stages; None: one per core on cuda, none on the CPU.
    """
    if asr.device not in DEVICES:
        raise ModelError(f"QA_ASR_DEVICE={asr.device!r}: use cpu or cuda")
    if batch_size is not None and batch_size < 0:
        raise ModelError(f"batch size {batch_size}: use 1 or more, or 0 for each call decoded on its own")
    if asr.device == "cuda":
        require_cuda()  # before anything else: the one clear message for a host that cannot run it
    asr = replace(asr, compute_type=compute_type(asr.device, asr.compute_type))
    # Loaded before the batch size is chosen, so the free memory measured is what is left
    # beside the weights; the analyzer then finds it in load_model's cache.
    model, resolved = load_model(asr)
    if asr.device == "cuda":
        _warm_up(model, resolved.name)
    if batch_size == 0:
        log.info("ASR: model %s on %s, compute type %s, each call decoded on its own", resolved.name, asr.device,
                 asr.compute_type)
        return SequentialAnalyzer(asr)
    size, why = _batch_size(asr.device, batch_size)
    log.info("ASR: model %s on %s, compute type %s, batch size %d (%s)", resolved.name, asr.device,
             asr.compute_type, size, why)
    workers = cpu_workers_for(asr.device) if cpu_workers is None else cpu_workers
    return BatchedAnalyzer(asr, batch_size=size, max_wait_s=max_wait_s, cpu_workers=workers)


def _batch_size(device: str, asked: int | None) -> tuple[int, str]:
    if asked is not None:
        return asked, "set"
    if device == "cpu":
        return DEFAULT_BATCH_SIZE, "the default"
    free = free_memory_bytes(0)
    if free is None:
        return UNMEASURED_GPU_BATCH, "GPU free memory unknown; set QA_BATCH_SIZE to choose"
    return batch_size_for_memory(free), f"from {free / 2**30:.1f} GiB free on the GPU"


def _warm_up(model: WhisperModel, name: str) -> None:
    """Run the encoder once: a GPU whose cuBLAS / cuDNN cannot be used fails here, at start, not on a call."""
    try:
        model.detect_language(np.zeros(SAMPLE_RATE, dtype=np.float32))
    except Exception as exc:
        raise ModelError(f"ASR model {name!r} loaded on cuda but cannot run there: {exc}; {README_HINT}") from exc
