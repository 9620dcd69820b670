"""Device checks as a GPU worker meets them; on CPU-only machines (CI), the failures it must explain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpu.device import compute_type, cuda_devices, free_memory_bytes, parse_nvidia_smi_free, require_cuda
from qa_engine.errors import ModelError
from tests.gpu import CPU_ONLY, cpu_only

ROOT = Path(__file__).resolve().parents[2]


def test_cuda_is_found_exactly_where_the_host_has_a_gpu() -> None:
    if CPU_ONLY:
        assert cuda_devices() == 0
        assert free_memory_bytes() is None
    else:
        assert require_cuda() >= 1
        assert compute_type("cuda") in ("float16", "int8_float16", "bfloat16")
        free = free_memory_bytes()
        assert free is None or free > 0


@cpu_only
def test_require_cuda_says_what_to_fix() -> None:
    with pytest.raises(ModelError) as err:
        require_cuda()
    msg = str(err.value)
    assert msg.startswith("no CUDA device is visible to CTranslate2")
    assert "NVIDIA GPU or driver" in msg and "libcublas.so.12" in msg and "README" in msg
    assert "\n" not in msg  # printed as one line by `qa-engine worker`
    assert err.value.code == "model_unavailable"


@cpu_only
def test_compute_type_on_cuda_without_cuda_explains() -> None:
    with pytest.raises(ModelError, match="no CUDA device is visible"):
        compute_type("cuda")


def test_compute_type_on_cpu() -> None:
    assert compute_type("cpu") == "int8"
    assert compute_type("cpu", "default") == "int8"
    assert compute_type("cpu", "float32") == "float32"
    with pytest.raises(ModelError, match="use cpu or cuda"):
        compute_type("tpu")


def test_nvidia_smi_output_parsed() -> None:
    assert parse_nvidia_smi_free("81037\n") == 81037 * 1024 * 1024
    assert parse_nvidia_smi_free(" 512\n 80000\n") == 512 * 1024 * 1024  # the first device asked for
    with pytest.raises(ValueError):
        parse_nvidia_smi_free("[N/A]\n")


def worker(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", "worker", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **env})


@cpu_only
@pytest.mark.parametrize("broker", ["", "redis://127.0.0.1:6379/13"])
def test_cuda_worker_refuses_to_start_with_one_line(broker: str) -> None:
    out = worker("--device", "cuda", QA_BROKER_URL=broker)
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith("qa-engine worker: --device cuda: no CUDA device is visible to CTranslate2")
    assert "libcublas.so.12" in lines[0] and out.stdout == ""


@cpu_only
def test_cuda_from_the_environment_checked_the_same() -> None:
    out = worker(QA_ASR_DEVICE="cuda", QA_BROKER_URL="")
    assert out.returncode == 2 and out.stderr.startswith("qa-engine worker: --device cuda: no CUDA device"), out


def test_cuda_worker_refuses_prefork() -> None:
    out = worker("--device", "cuda", "--pool", "prefork")
    assert out.returncode == 2 and out.stderr.strip() == (
        "qa-engine worker: --device cuda: use --pool threads (the default) or solo, not prefork"), out


def test_cpu_worker_without_broker_keeps_its_message() -> None:
    out = worker("--device", "cpu", QA_BROKER_URL="")
    assert out.returncode == 2 and out.stderr.startswith("qa-engine worker: set QA_BROKER_URL"), out
    assert "Traceback" not in out.stderr
