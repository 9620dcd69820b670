"""`qa-engine bench`, run as a user runs it: the installed command, real (short) fixture calls, no mocks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import CALLS, REAL
from tests.gpu import cpu_only


def qa_engine(*args: object, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    exe = shutil.which("qa-engine") or str(Path(sys.executable).with_name("qa-engine"))
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          encoding="utf-8", cwd=cwd)


@pytest.fixture(scope="module")
def short_calls(tmp_path_factory) -> tuple[Path, dict[str, tuple[float, int]]]:
    """The shortest stereo call (en, labels beside it) and a 2.75 s mono clip named with its language."""
    src = tmp_path_factory.mktemp("bench") / "calls"
    src.mkdir()
    shutil.copy(CALLS / "en_rude_agent.wav", src / "en_rude_agent.wav")
    shutil.copy(CALLS / "en_rude_agent.labels.json", src / "en_rude_agent.labels.json")
    shutil.copy(REAL / "zh" / "wenet_nst_ID002.wav", src / "zh_wenet_nst.wav")
    info = {p.name: (sf.info(p).duration, sf.info(p).channels) for p in src.glob("*.wav")}
    return src, info


def test_bench_times_every_variant_and_appends_a_section(short_calls, tmp_path):
    src, info = short_calls
    results = tmp_path / "r.md"
    results.write_text("# Earlier results\n\nkept as they were\n", encoding="utf-8")
    out = qa_engine("bench", src, "--json", "--variants", "bare,pipeline,batched", "--out", results, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    assert out.stdout.count("\n") == 1, "stdout holds one JSON object and nothing else"
    d = json.loads(out.stdout)

    assert d["calls"] == 2 and d["failed_calls"] == 0 and d["failures"] == []
    assert d["audio_s"] == pytest.approx(sum(dur for dur, _ in info.values()), abs=0.01)
    assert d["channel_audio_s"] == pytest.approx(sum(dur * min(ch, 2) for dur, ch in info.values()), abs=0.01)
    assert d["channels"] == 3
    for v in ("bare", "pipeline", "batched"):
        assert d[f"{v}_s"] > 0
        assert d["x_realtime"][v] == pytest.approx(d["audio_s"] / d[f"{v}_s"], rel=1e-3)
        assert d["x_realtime_channels"][v] == pytest.approx(d["channel_audio_s"] / d[f"{v}_s"], rel=1e-3)
    assert d["bare_batched_s"] is None and "bare_batched" not in d["variants"]
    assert d["pipeline_over_bare"] == pytest.approx(d["pipeline_s"] / d["bare_s"], rel=1e-3)
    assert d["bare_over_batched"] == pytest.approx(d["bare_s"] / d["batched_s"], rel=1e-3)

    # Stage breakdown of both analysis paths, and what the scheduler did.
    for v in ("pipeline", "batched"):
        stages = d["stages_s"][v]
        assert {"decode", "vad", "asr", "turns", "metrics", "detectors"} <= set(stages)
        assert stages["asr"] > 0
    assert "features" in d["stages_s"]["batched"]
    sched = d["scheduler"]
    assert sched["batches"] >= 1 and sched["windows"] >= 2 and sched["asr_busy_s"] > 0 and sched["mean_batch"] >= 1

    # Agreement: both engine paths, per call and over all; the scorecards compared.
    assert 0 <= d["cer_batched_vs_pipeline"] <= 0.2
    assert 0 <= d["cer_bare_vs_pipeline"] <= 0.5
    assert d["scorecards_batched_vs_pipeline"]["calls_compared"] == 2
    per_call = {c["call"]: c for c in d["per_call"]}
    assert set(per_call) == set(info)
    assert per_call["en_rude_agent.wav"]["lang"] == "en" and per_call["zh_wenet_nst.wav"]["lang"] == "zh"
    assert per_call["en_rude_agent.wav"]["agreement"]["cer_batched_vs_pipeline"]["unit"] == "words"
    assert per_call["zh_wenet_nst.wav"]["agreement"]["cer_batched_vs_pipeline"]["unit"] == "chars"

    assert d["peak_rss_mb"] > 0 and d["machine"]["cores_usable"] >= 1 and d["machine"]["device"] == "cpu"
    assert d["machine"]["ctranslate2"] and d["machine"]["faster_whisper"]
    assert "bench" in d["command"] and d["date"].endswith("Z")
    assert [t["result"] for t in d["targets"]] != [] and all(t["result"] in ("PASS", "MISS") for t in d["targets"])

    md = results.read_text(encoding="utf-8")
    assert md.startswith("# Earlier results\n\nkept as they were\n")
    section = md.split("kept as they were\n", 1)[1]
    assert section.lstrip().startswith("## ") and "2 calls" in section
    assert "| bare |" in section and "| pipeline |" in section and "| batched |" in section
    assert sum(line.startswith(("- **PASS**", "- **MISS**")) for line in section.splitlines()) == 3
    assert "Command: `" in section and "Machine: " in section
    # With --json, the table went to stderr.
    assert "| variant |" in out.stderr


@cpu_only
def test_cuda_without_a_gpu_exits_2_in_one_line(short_calls, tmp_path):
    src, _ = short_calls
    out = qa_engine("bench", src, "--device", "cuda", "--json", cwd=tmp_path, timeout=120)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.startswith("qa-engine: error: ") and "cuda" in out.stderr.lower()
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert not (tmp_path / "benchmarks").exists()
