"""Scale-out: the API only enqueues; a real `qa-engine worker` (Celery, Redis) analyses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.api.conftest import REDIS_URL, ROOT, Server, submit, wait_done


def test_celery_worker_analyses(tmp_path: Path) -> None:
    import redis

    # Redis runs on every development and CI machine: its absence is a failure, not a skip.
    redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    redis.Redis.from_url(REDIS_URL).flushdb()
    srv = Server(tmp_path / "qa", "", QA_BROKER_URL=REDIS_URL, QA_START_WORKERS="false")
    srv.start()
    worker = subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--concurrency", "1", "--name",
                               "t"], cwd=ROOT, env=srv.env, stdout=(tmp_path / "worker.log").open("wb"),
                              stderr=subprocess.STDOUT)
    try:
        key = srv.cli("keys", "create", "--role", "client")
        with srv.client(key) as c:
            bad = submit(c, metadata={"external_id": "cel-1"})
            assert bad.status_code == 202, bad.text
            d = wait_done(c, bad.json()["id"], timeout=240)
            assert d["status"] == "done", d
            assert c.get(f"/v1/calls/{d['id']}/scorecard").json()["items"]
        log = (tmp_path / "worker.log").read_text(errors="replace")
        assert "qa.analyze_call" in log
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        srv.stop()
        print(os.linesep.join((tmp_path / "worker.log").read_text(errors="replace").splitlines()[-20:]))
