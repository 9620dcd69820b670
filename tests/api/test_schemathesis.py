"""Property-based fuzzing of every operation in /openapi.json (schemathesis CLI): no 5xx, ever."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.api.conftest import Server


def test_no_server_errors(tmp_path: Path) -> None:
    srv = Server(tmp_path / "qa", "", QA_WORKERS="1", QA_PRELOAD_MODEL="false")
    srv.start(wait_ready=False)
    try:
        key = srv.cli("keys", "create", "--role", "admin")
        st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
        cmd = [st, "run", f"{srv.base}/openapi.json", "--checks", "not_a_server_error",
               "--max-examples", "20", "--phases", "examples,coverage,fuzzing", "--seed", "1",
               "--request-timeout", "60", "--no-shrink", "--suppress-health-check", "all",
               "-H", f"Authorization: Bearer {key}"]
        out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=420)
        tail = (out.stdout + out.stderr)[-6000:]
        assert out.returncode == 0, tail
        assert " passed" in tail and "failed" not in tail.split("Seed:")[0].lower().replace("0 failed", ""), tail
    finally:
        srv.stop()
