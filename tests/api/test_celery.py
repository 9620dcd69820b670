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
        _stop(worker, srv, tmp_path / "worker.log")


def test_celery_threads_pool_shares_one_analyzer(tmp_path: Path) -> None:
    """The GPU workers' arrangement, on the CPU: one process, calls in flight as threads, one shared model."""
    import redis

    redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    redis.Redis.from_url(REDIS_URL).flushdb()
    srv = Server(tmp_path / "qa", "", QA_BROKER_URL=REDIS_URL, QA_START_WORKERS="false")
    srv.start()
    log_path = tmp_path / "worker.log"
    worker = subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--device", "cpu", "--pool", "threads",
                               "--concurrency", "2", "--batch-size", "4", "--name", "threads"], cwd=ROOT,
                              env={**srv.env, "QA_BATCH_WAIT_S": "5"}, stdout=log_path.open("wb"),
                              stderr=subprocess.STDOUT)
    try:
        key = srv.cli("keys", "create", "--role", "client")
        with srv.client(key) as c:
            ids = [submit(c, metadata={"external_id": f"thr-{i}", "language": "en"}).json()["id"] for i in range(2)]
            done = [wait_done(c, i, timeout=240) for i in ids]
            assert [d["status"] for d in done] == ["done", "done"], done
            texts = [" ".join(t["text"] for t in c.get(f"/v1/calls/{i}/transcript").json()["turns"]) for i in ids]
            assert texts[0] == texts[1] and "problem" in texts[0].lower()
        log = log_path.read_text(errors="replace")
        assert "qa-engine worker: device cpu, pool threads, 2 call(s) at once" in log
        # Both task threads used the one analyzer, built once, with the command line's batch size.
        assert log.count("ASR: model base on cpu, compute type int8, batch size 4 (set)") == 1, log
        assert "Traceback" not in log, log
    finally:
        _stop(worker, srv, log_path)


def _stop(worker: subprocess.Popen, srv: Server, log_path: Path) -> None:
    """Stop the worker and the server; the worker log's tail goes to the test report."""
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
    srv.stop()
    print(os.linesep.join(log_path.read_text(errors="replace").splitlines()[-20:]))
