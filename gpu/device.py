"""Which device the ASR runs on, and with what: CUDA visibility, compute type, free GPU memory.

Everything here asks CTranslate2 (what faster-whisper runs on), not PyTorch: a host
where PyTorch sees the GPU but CTranslate2 cannot load CUDA 12's cuBLAS still cannot
run the ASR, and that is the case to report clearly before a worker takes jobs.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import subprocess
from functools import lru_cache

import ctranslate2

from qa_engine.errors import ModelError

log = logging.getLogger("gpu")

DEVICES = ("cpu", "cuda")
# In order of preference on a GPU. float16 is what Whisper was trained for and the
# fastest on tensor cores; int8_float16 halves the weights' memory where float16 is not
# offered; bfloat16 last (same speed as float16 where both exist, a little less precise).
CUDA_COMPUTE_TYPES = ("float16", "int8_float16", "bfloat16")
# The CTranslate2 wheels on PyPI are built against CUDA 12 and open these at run time.
CUBLAS_LIBS = ("libcublas.so.12", "libcublasLt.so.12")
README_HINT = 'see "GPU workers" in the README'


def cuda_devices() -> int:
    """CUDA devices CTranslate2 can see; 0 on any error (no driver, driver too old, no GPU)."""
    try:
        return int(ctranslate2.get_cuda_device_count())
    except Exception:  # the library raises different things for "no CUDA"; all mean the same here
        return 0


def _missing_cublas() -> list[str]:
    """The cuBLAS libraries the dynamic loader cannot open (CTranslate2 opens them the same way)."""
    missing = []
    for name in CUBLAS_LIBS:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return missing


def require_cuda() -> int:
    """The number of CUDA devices; a ModelError that says what to fix when the ASR cannot use one.

    The message is one line: `qa-engine worker --device cuda` prints it as is.
    """
    n = cuda_devices()
    if n == 0:
        raise ModelError(
            "no CUDA device is visible to CTranslate2: no NVIDIA GPU or driver is visible here "
            "(check `nvidia-smi` and CUDA_VISIBLE_DEVICES; the driver must support CUDA 12), "
            "or CTranslate2 cannot load CUDA 12's cuBLAS (libcublas.so.12); " + README_HINT)
    missing = _missing_cublas()
    if missing:
        raise ModelError(
            f"CTranslate2 sees {n} CUDA device(s) but cannot load CUDA 12's cuBLAS ({', '.join(missing)}): "
            "install CUDA 12's cuBLAS, or on a CUDA 13-only host put symlinks named libcublas.so.12 and "
            "libcublasLt.so.12 (pointing at the .so.13 files) on LD_LIBRARY_PATH; " + README_HINT)
    return n


@lru_cache(maxsize=4)
def _supported(device: str) -> frozenset[str]:
    return frozenset(ctranslate2.get_supported_compute_types(device))


def compute_type(device: str, requested: str | None = None) -> str:
    """The CTranslate2 compute type to load the model with.

    `requested` ("default" or None: choose) wins when the device supports it. On the CPU
    the default is int8 (fastest there, and what the accuracy tests run with).
    """
    if device not in DEVICES:
        raise ModelError(f"unknown ASR device {device!r}: use cpu or cuda")
    want = None if requested in (None, "", "default") else requested
    if device == "cpu":
        return want or "int8"
    try:
        supported = _supported("cuda")
    except Exception as exc:  # CTranslate2 raises when it cannot use CUDA at all
        require_cuda()  # the actionable message, where it applies
        raise ModelError(f"CTranslate2 cannot use CUDA: {exc}; {README_HINT}") from exc
    if want is not None:
        if want not in supported:
            raise ModelError(f"compute type {want!r} is not supported on this GPU; it offers: "
                             f"{', '.join(sorted(supported))}")
        return want
    for ct in CUDA_COMPUTE_TYPES:
        if ct in supported:
            return ct
    if "float32" in supported:
        return "float32"
    raise ModelError(f"this GPU offers no compute type the ASR can use ({', '.join(sorted(supported))})")


def free_memory_bytes(device_index: int = 0) -> int | None:
    """Free memory on one GPU, in bytes; None when it cannot be measured.

    PyTorch first: it numbers devices as CUDA (and CTranslate2) do, after
    CUDA_VISIBLE_DEVICES. Its CUDA context takes a few hundred MB of the GPU in this
    process, which only makes the figure conservative. Else nvidia-smi, which numbers
    the physical devices: the index is mapped through CUDA_VISIBLE_DEVICES.
    """
    free = _free_torch(device_index)
    if free is None:
        free = _free_nvidia_smi(device_index)
    return free


def _free_torch(device_index: int) -> int | None:
    try:
        import torch
    except Exception:  # not installed (the service does not need it) or broken
        return None
    try:
        if not torch.cuda.is_available():
            return None
        free, _total = torch.cuda.mem_get_info(device_index)
        return int(free)
    except Exception:
        log.debug("torch.cuda.mem_get_info failed", exc_info=True)
        return None


def _free_nvidia_smi(device_index: int) -> int | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    target = str(device_index)
    if visible:
        ids = [v.strip() for v in visible.split(",") if v.strip()]
        if device_index >= len(ids):
            return None
        target = ids[device_index]  # a physical index or a GPU UUID: nvidia-smi --id takes both
    try:
        out = subprocess.run([exe, f"--id={target}", "--query-gpu=memory.free", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        return parse_nvidia_smi_free(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def parse_nvidia_smi_free(output: str) -> int:
    """`memory.free` in MiB (csv, noheader, nounits), first line -> bytes."""
    line = output.strip().splitlines()[0].strip()
    return int(float(line)) * 1024 * 1024
