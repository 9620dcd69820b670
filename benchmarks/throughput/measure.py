"""What the machine is and what the run used: versions, CPU, GPU name and memory (nvidia-smi), peak RSS."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def _ver(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "?"


def _nvidia_smi(query: str) -> list[str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, f"--query-gpu={query}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def machine_info(device: str, compute_type: str, threads: int) -> dict[str, Any]:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores_logical": os.cpu_count(),
        "cores_usable": usable,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "ctranslate2": _ver("ctranslate2"),
        "faster_whisper": _ver("faster-whisper"),
        "device": device,
        "compute_type": compute_type,
        "threads": threads,
    }
    if device == "cuda":
        info["gpu"] = ", ".join(_nvidia_smi("name")) or "?"
    return info


def peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


class GpuMemory:
    """Peak memory in use on the GPU(s) while the benchmark runs, by polling nvidia-smi (whole device)."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self.peak_mb: float | None = None
        self.baseline_mb: float | None = self._used()
        self._stop = threading.Event()
        self._interval = interval_s
        self._thread: threading.Thread | None = None
        if self.baseline_mb is not None:
            self._thread = threading.Thread(target=self._poll, name="gpu-memory", daemon=True)
            self._thread.start()

    @staticmethod
    def _used() -> float | None:
        values = []
        for line in _nvidia_smi("memory.used"):
            with contextlib.suppress(ValueError):
                values.append(float(line))
        return max(values) if values else None

    def _poll(self) -> None:
        while not self._stop.wait(self._interval):
            used = self._used()
            if used is not None:
                self.peak_mb = used if self.peak_mb is None else max(self.peak_mb, used)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

