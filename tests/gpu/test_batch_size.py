"""Batch size: the first guess from free memory, and the check that transcripts do not change with it."""

from __future__ import annotations

import json

import pytest

from gpu.batch_size import (
    MAX_BATCH,
    WHISPER_BASE_F16_BEAM5_ITEM_BYTES,
    CandidateFigures,
    acceptable,
    batch_size_for_memory,
    call_windows,
    check_batch_size,
    choose,
    main,
)
from qa_engine.asr.transcribe import AsrOptions
from tests.conftest import call_file
from tests.gpu import cpu_only

GB = 10**9


def test_batch_size_from_free_memory() -> None:
    assert batch_size_for_memory(80 * GB) == MAX_BATCH == 64  # an idle H100: capped
    assert batch_size_for_memory(2 * GB) == 4  # 1.6 GB planned for, 256 MiB each
    assert batch_size_for_memory(300 * 2**20) == 1  # less than one item's worth: still 1
    assert batch_size_for_memory(0) == 1 and batch_size_for_memory(-5) == 1
    assert batch_size_for_memory(80 * GB, cap=16) == 16
    assert batch_size_for_memory(8 * 2**30, per_item_bytes=2**30) == 4  # 6.4 items fit -> 4
    sizes = [batch_size_for_memory(n * 2**28) for n in range(0, 400, 7)]
    assert all(s & (s - 1) == 0 and 1 <= s <= 64 for s in sizes)  # powers of two in range
    assert sizes == sorted(sizes)  # more memory never gives a smaller batch
    with pytest.raises(ValueError):
        batch_size_for_memory(GB, per_item_bytes=0)
    assert WHISPER_BASE_F16_BEAM5_ITEM_BYTES == 256 * 2**20


def figures(size: int, cer: float, chars: int, ref: int = 1000) -> CandidateFigures:
    return CandidateFigures(size, size, cer, cer, chars, ref, chars, ref, 0, 1.0, ok=acceptable(cer, chars, ref))


def test_acceptance_and_choice() -> None:
    assert acceptable(0.0, 1000, 1000) and acceptable(0.01, 1040, 1000)
    assert not acceptable(0.011, 1000, 1000)  # transcripts changed
    assert not acceptable(0.0, 1600, 1000)  # a runaway: 60 % more text (as at batch 256 on the H100)
    assert not acceptable(0.0, 900, 1000)  # text lost
    assert choose([figures(1, 0, 1000), figures(8, 0.002, 1001), figures(16, 0.004, 1003)]) == 16
    # A size whose smaller neighbour failed is not trusted, even if it passed.
    assert choose([figures(32, 0, 1000), figures(8, 0, 1000), figures(16, 0.2, 1000)]) == 8
    assert choose([figures(8, 0.5, 1000)]) == 1


@pytest.fixture(scope="module")
def zh_windows(asr_model):
    """A few short windows (at most 8 s each) from a real fixture call."""
    language, asr, windows = call_windows(asr_model, call_file("zh_ulaw_forbidden"), max_s=8.0)
    assert language == "zh" and 2 <= len(windows) <= 4  # 3 today; the test holds for any few
    return asr, windows


def test_check_batch_size_on_a_real_call(asr_model, zh_windows) -> None:
    asr, windows = zh_windows
    check = check_batch_size(asr_model, windows, "zh", asr, [4, 1, 2])
    assert [c.batch_size for c in check.candidates] == [1, 2, 4]
    n = len(windows)
    assert [c.items for c in check.candidates] == [n, n, max(n, 4)]  # windows repeated to fill a batch of 4
    ref = check.candidates[0]
    assert ref.cer == 0.0 and ref.chars == ref.reference_chars > 20 and ref.tokens == ref.reference_tokens > 10
    for c in check.candidates:
        assert c.error is None and c.seconds > 0 and c.reference_chars > 0
        assert c.ok == (c.cer <= 0.01 and abs(c.char_ratio - 1) <= 0.05), c
    # On the CPU a batch decodes like each window alone: every size passes.
    assert all(c.ok for c in check.candidates) and check.chosen == 4, check.to_dict()
    assert json.loads(json.dumps(check.to_dict()))["chosen"] == 4
    with pytest.raises(ValueError):
        check_batch_size(asr_model, windows, "zh", asr, [0, 2])
    with pytest.raises(ValueError):
        check_batch_size(asr_model, [], "zh", AsrOptions(), [1])


def test_check_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--candidates", "1", "2", "--language", "en", str(call_file("en_rude_agent"))]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [o["language"] for o in out] == ["en"]
    assert [c["batch_size"] for c in out[0]["candidates"]] == [1, 2] and out[0]["chosen"] in (1, 2)


@cpu_only
def test_check_command_on_cuda_without_a_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--device", "cuda", str(call_file("en_rude_agent"))]) == 2
    assert capsys.readouterr().err.startswith("gpu.batch_size: error: no CUDA device is visible")
