"""A worker process's analyzer, set up for its device: checked, compute type and batch size chosen, logged."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from faster_whisper import WhisperModel

from gpu.batch_size import batch_size_for_memory
from gpu.device import DEVICES, README_HINT, compute_type, free_memory_bytes, require_cuda
from qa_engine.asr.transcribe import AsrOptions, load_model
from qa_engine.batched import BatchedAnalyzer
from qa_engine.errors import ModelError
from qa_engine.types import SAMPLE_RATE

if TYPE_CHECKING:
    from api.config import Settings

log = logging.getLogger("gpu")

# When the GPU's free memory cannot be measured (no PyTorch, no nvidia-smi): a size the
# bare benchmark ran well at (batch 16: 109-135x realtime on the H100) and that fits in
# a few GB.
UNMEASURED_GPU_BATCH = 16


def asr_options(settings: Settings) -> AsrOptions:
    """The ASR options the settings ask for, with the compute type resolved for the device."""
    device = settings.asr_device
    if device not in DEVICES:
        raise ModelError(f"QA_ASR_DEVICE={device!r}: use cpu or cuda")
    return AsrOptions(model=settings.asr_model, device=device,
                      compute_type=compute_type(device, settings.asr_compute_type), cpu_threads=settings.asr_threads)


def make_analyzer(settings: Settings) -> BatchedAnalyzer:
    """The model loaded on `settings.asr_device` behind one batch scheduler, for every thread of this process."""
    device = settings.asr_device
    if device == "cuda":
        require_cuda()  # before anything else: the one clear message for a host that cannot run it
    asr = asr_options(settings)
    # Loaded before the batch size is chosen, so the free memory measured is what is left
    # beside the weights; BatchedAnalyzer then finds it in load_model's cache.
    model, resolved = load_model(asr)
    if device == "cuda":
        _warm_up(model, resolved.name)
    size, why = _batch_size(settings)
    log.info("ASR: model %s on %s, compute type %s, batch size %d (%s)", resolved.name, device, asr.compute_type,
             size, why)
    return BatchedAnalyzer(asr, batch_size=size, max_wait_s=settings.batch_wait_s)


def _batch_size(settings: Settings) -> tuple[int, str]:
    explicit = "batch_size" in settings.model_fields_set  # QA_BATCH_SIZE or --batch-size
    if settings.asr_device == "cpu" or explicit:
        if settings.batch_size < 1:
            raise ModelError(f"batch size {settings.batch_size}: the batched analyzer needs at least 1 "
                             "(0 means each call decoded on its own)")
        return settings.batch_size, "set" if explicit else "the default"
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
