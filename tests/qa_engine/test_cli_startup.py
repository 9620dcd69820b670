"""`qa-engine --help` and the error exits answer at once: nothing heavy is imported to say no.

Checked by what the process imports (`python -X importtime`), not by a stopwatch: the
model stack (torch, faster-whisper, scikit-learn, librosa) costs seconds of CPU, and a
test that times it would only measure the machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "faster_whisper", "ctranslate2", "sklearn", "librosa", "transformers", "numpy",
         "qa_engine.pipeline", "fastapi", "sqlalchemy")
ENTRY = "import sys; from api.cli import main; sys.exit(main())"  # what the qa-engine script runs


def run_cli(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", ENTRY, *args], capture_output=True, text=True,
                         timeout=120, cwd=cwd)
    imported = {line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    return out, imported


def said(out: subprocess.CompletedProcess) -> str:
    return "\n".join(line for line in out.stderr.splitlines() if not line.startswith("import time:"))


@pytest.mark.parametrize("args, code, message", [
    (["--help"], 0, ""),
    (["bench", "--help"], 0, ""),
    (["analyze", "missing.wav"], 2, "missing.wav: file not found"),
    (["transcribe", "missing.wav"], 2, "missing.wav: file not found"),
    (["analyze", "--transcript", "missing.json"], 2, "missing.json: no such file"),
    (["batch", "no_such_dir", "--out", "o"], 2, "no_such_dir: not a folder"),
    (["analyze", "call.wav", "--bogus"], 2, "unrecognized arguments: --bogus"),
    (["no-such-command"], 2, "invalid choice"),
])
def test_help_and_error_exits_import_nothing_heavy(args, code, message, tmp_path):
    out, imported = run_cli(*args, cwd=tmp_path)
    assert out.returncode == code, said(out)
    assert message in said(out)
    assert "Traceback" not in out.stderr
    heavy = sorted(set(HEAVY) & imported)
    assert not heavy, f"qa-engine {' '.join(args)} imported {heavy}"
    if args == ["--help"]:
        assert "bench" in out.stdout and "serve" in out.stdout  # the engine's and the service's commands


def test_the_check_only_guards_the_imports(tmp_path):
    """A real recording still gets the pipeline: the cheap check is a gate, not a substitute."""
    bad = tmp_path / "call.wav"
    bad.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40)
    out, imported = run_cli("analyze", str(bad), cwd=tmp_path)
    assert out.returncode == 2 and "call.wav" in said(out)
    assert "qa_engine.pipeline" in imported
