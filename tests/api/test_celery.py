"""Scale-out: the API only enqueues; a real `qa-engine worker` (Celery, Redis) analyses."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.api.conftest import REDIS_URL, ROOT, Server, db_rows, submit, wait_done, wait_for


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


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the prefork pool's children)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _start_worker(srv: Server, log_path: Path, name: str) -> subprocess.Popen[bytes]:
    # Its own session: kill -9 of the process group is the machine or container going down.
    return subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--concurrency", "1", "--name", name],
                            cwd=ROOT, env=srv.env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


# Longer than a new worker takes to start, so that messages reach it while the dead worker's lease runs.
LEASE_S = 30.0
SLACK_S = 5.0  # a poll interval, a claim and the database, on a busy machine


@pytest.mark.parametrize("killed", ["worker", "pool_child"])
def test_celery_kill9_mid_analysis_recovers_within_the_lease_once(tmp_path: Path, killed: str) -> None:
    """kill -9 of a whole worker (then another one starts), or of its pool child (what the OOM killer
    picks; Celery redelivers the message at once, while the dead child's lease still runs): the call is
    taken up again within the lease, analysed to the end exactly once, one result."""
    import redis

    redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    redis.Redis.from_url(REDIS_URL).flushdb()
    srv = Server(tmp_path / "qa", "", QA_BROKER_URL=REDIS_URL, QA_START_WORKERS="false", QA_JOB_LEASE_S=str(LEASE_S))
    srv.start()
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    workers = [_start_worker(srv, logs[0], "k1")]
    try:
        key = srv.cli("keys", "create", "--role", "client")
        with srv.client(key) as c:
            cid = submit(c, metadata={"external_id": f"kill-{killed}"}).json()["id"]
            wait_for(lambda: c.get(f"/v1/calls/{cid}").json()["status"] == "processing", 120, "processing")
            time.sleep(1.0)  # mid-analysis
            killed_at = time.time()
            if killed == "worker":
                os.killpg(workers[0].pid, signal.SIGKILL)
                workers[0].wait(timeout=10)
                workers.append(_start_worker(srv, logs[1], "k2"))
                ready_at = wait_for(lambda: " ready." in logs[1].read_text(errors="replace"), 120, "worker 2 ready")
            else:
                (child,) = _children(workers[0].pid)
                os.kill(child, signal.SIGKILL)
                ready_at = killed_at
            taken_at = wait_for(lambda: db_rows(srv, "SELECT attempts FROM jobs WHERE call_id = :id", cid)[0][0] == 2,
                                LEASE_S + 120, "the killed call taken up again")
            bound = max(LEASE_S, ready_at - killed_at) + SLACK_S
            assert taken_at - killed_at <= bound, f"taken up {taken_at - killed_at:.1f} s after the kill"
            d = wait_done(c, cid, timeout=240)
            assert d["status"] == "done", d
        assert db_rows(srv, "SELECT count(*) FROM results WHERE call_id = :id", cid) == [(1,)]
        assert db_rows(srv, "SELECT status, attempts FROM jobs WHERE call_id = :id", cid) == [("done", 2)]
        text = "".join(p.read_text(errors="replace") for p in logs if p.exists())
        assert text.count("succeeded in") and len(re.findall(r"succeeded in [\d.]+s: 'done'", text)) == 1, text
    finally:
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(w.pid, signal.SIGTERM)
            w.wait(timeout=30)
        srv.stop()
        for p in logs:
            if p.exists():
                print(os.linesep.join(p.read_text(errors="replace").splitlines()[-30:]))
