"""The worker process's analyzer: built for its device, shared, and explaining why when it cannot be."""

from __future__ import annotations

import pytest

from api.config import Settings
from api.jobs.engine import SharedAnalyzer, asr_options, batch_size
from gpu.worker import make_analyzer
from qa_engine import AnalysisOptions, AsrOptions
from qa_engine.batched import SequentialAnalyzer
from qa_engine.errors import ModelError
from tests.conftest import call_file
from tests.gpu import cpu_only


def test_cpu_analyzer_takes_the_settings(asr_model) -> None:
    shared = SharedAnalyzer(Settings(asr_device="cpu", batch_size=3, batch_wait_s=0.05))
    shared.load()
    analyzer = shared._analyzer
    try:
        assert analyzer is not None and not isinstance(analyzer, SequentialAnalyzer)
        assert analyzer.scheduler.batch_size == 3 and analyzer.scheduler.max_wait_s == 0.05
        assert analyzer.asr.device == "cpu" and analyzer.asr.compute_type == "int8"  # "default" resolved once
        assert analyzer.model is asr_model  # the process's one loaded model, not a second copy
    finally:
        analyzer.close()
    assert asr_options(Settings(asr_compute_type="int8_float32")).compute_type == "int8_float32"
    assert batch_size(Settings(asr_device="cuda")) is None  # chosen from the GPU's free memory
    assert batch_size(Settings(asr_device="cuda", batch_size=12)) == 12
    with pytest.raises(ModelError, match="use cpu or cuda"):
        make_analyzer(AsrOptions(device="gpu"))
    with pytest.raises(ModelError, match="0 for each call decoded on its own"):
        make_analyzer(AsrOptions(), batch_size=-1)


@cpu_only
def test_cuda_analyzer_without_cuda() -> None:
    with pytest.raises(ModelError, match="no CUDA device is visible to CTranslate2"):
        make_analyzer(AsrOptions(device="cuda"))
    shared = SharedAnalyzer(Settings(asr_device="cuda"))
    with pytest.raises(ModelError):
        shared.load()
    assert shared.status.startswith("unavailable: no CUDA device is visible") and shared.stats is None
    # Every call fails with the reason (the job service retries, then records it).
    with pytest.raises(ModelError, match=r"libcublas\.so\.12"):
        shared.analyze(call_file("en_rude_agent"), AnalysisOptions())


def test_batch_size_zero_is_the_sequential_path(asr_model) -> None:
    shared = SharedAnalyzer(Settings(batch_size=0))
    shared.load()
    assert shared.status == "ok" and shared.stats is None  # no batch scheduler
    assert isinstance(shared._analyzer, SequentialAnalyzer)
    result = shared.analyze(call_file("en_rude_agent"), AnalysisOptions(language="en", asr=AsrOptions()))
    assert result.call.language == "en" and "problem" in " ".join(t.text for t in result.turns).lower()
