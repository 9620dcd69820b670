"""kill -9 mid-analysis, with the default 60 s lease: how long until the call is taken up again and done,
and is it analysed exactly once?

Three cases, each on a fresh data dir (SQLite; Redis from --redis-url for Celery, whose database is flushed):
- inprocess: `qa-engine serve` with its in-process workers is killed, then started again;
- celery-worker: a `qa-engine worker` (its whole process group) is killed, another one is started;
- celery-child: only the worker's pool child is killed (what the OOM killer picks); Celery
  redelivers the message at once, while the dead child's lease still runs.
Reports seconds from the kill to: taken up again (the job's second attempt), done; and the result
rows, the job record and the number of task runs that finished the analysis.

    python benchmarks/kill9_recovery.py --out benchmarks/durability_results.md

Standard library and the installed package only (HTTP through benchmarks/loopback.py, the job rows read
with the service's own engine): it runs on a user's install, without the test extras. The servers and
workers poll every 0.2 s (QA_POLL_INTERVAL_S) with 2 ASR threads, as the API tests' servers do.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.loopback import RECORDING, ROOT, Client, create_key, free_port, serve

REDIS_URL = os.environ.get("QA_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return kids


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> float:
    """Poll `check()` until true; returns the time (time.time()) it first was."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return time.time()
        time.sleep(0.2)
    raise SystemExit(f"{what}: not within {timeout:.0f} s")


def db_rows(data_dir: Path, sql: str, call_id: str) -> list[tuple[Any, ...]]:
    """Rows of a query on the server's SQLite database (`:id` is the call id): what the API does not show."""
    from sqlalchemy import text

    from api.config import Settings
    from api.database.core import make_engine

    eng = make_engine(Settings(data_dir=data_dir, database_url=""))
    try:
        with eng.connect() as c:
            return [tuple(r) for r in c.execute(text(sql), {"id": call_id})]
    finally:
        eng.dispose()


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """The API, once /readyz answers (with in-process workers: once the model is loaded)."""
    return serve(env, port, log, path="/readyz", limit_s=600)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def start_worker(env: dict[str, str], log: Path, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--concurrency", "1", "--name", name],
                            cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def status_of(c: Client, cid: str) -> str:
    r = c.get(f"/v1/calls/{cid}")
    if r.status != 200:
        raise SystemExit(f"GET /v1/calls/{cid} answered {r.status}: {r.text[:500]}")
    return str(r.json()["status"])


def measure(case: str, data_dir: Path, recording: Path, redis_url: str) -> dict[str, object]:
    celery = case.startswith("celery")
    env = {**os.environ, "QA_DATA_DIR": str(data_dir), "QA_DATABASE_URL": "", "QA_POLL_INTERVAL_S": "0.2",
           "QA_ASR_THREADS": "2", "PYTHONUNBUFFERED": "1"}
    if celery:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        env |= {"QA_BROKER_URL": redis_url, "QA_START_WORKERS": "false"}
    port = free_port()
    procs = [start_server(env, port, data_dir / "server.log")]
    logs = [data_dir / "worker1.log", data_dir / "worker2.log"]
    workers = [start_worker(env, logs[0], "k1")] if celery else []
    try:
        c = Client(f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {create_key(env, 'client')}"})
        r = c.post_call(recording.read_bytes(), {"external_id": case}, recording.name)
        if r.status != 202:
            raise SystemExit(f"upload answered {r.status}: {r.text[:500]}")
        cid = r.json()["id"]
        wait_for(lambda: status_of(c, cid) == "processing", 300, "processing")
        time.sleep(2.0)  # mid-analysis
        killed = time.time()
        if case == "inprocess":
            procs[0].kill()
            procs[0].wait(timeout=10)
            procs.append(start_server(env, port, data_dir / "server2.log"))
        elif case == "celery-worker":
            os.killpg(workers[0].pid, signal.SIGKILL)
            workers[0].wait(timeout=10)
            workers.append(start_worker(env, logs[1], "k2"))
        else:
            (child,) = children(workers[0].pid)
            os.kill(child, signal.SIGKILL)
        restarted = time.time()
        taken = wait_for(lambda: db_rows(data_dir, "SELECT attempts FROM jobs WHERE call_id = :id", cid)[0][0] >= 2,
                         900, "taken up again")
        status = status_of(c, cid)
        deadline = time.time() + 900
        while status not in ("done", "failed"):
            if time.time() > deadline:
                raise SystemExit(f"call {cid} not analysed within 900 s of the kill: {status}")
            time.sleep(0.5)
            status = status_of(c, cid)
        done = time.time()
        text = "".join(p.read_text(errors="replace") for p in logs if p.exists())
        return {"case": case, "restart_s": restarted - killed, "taken_s": taken - killed, "done_s": done - killed,
                "status": status,
                "results": db_rows(data_dir, "SELECT count(*) FROM results WHERE call_id = :id", cid)[0][0],
                "job": db_rows(data_dir, "SELECT status, attempts FROM jobs WHERE call_id = :id", cid)[0],
                "runs_done": len(re.findall(r"succeeded in [\d.]+s: 'done'", text)) if celery else None,
                "deferred": text.count("retry: Retry in") if celery else None}
    finally:
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(w.pid, signal.SIGTERM)
            w.wait(timeout=30)
        for p in procs:
            stop(p)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="*", default=["inprocess", "celery-worker", "celery-child"])
    ap.add_argument("--out", type=Path, help="append the results as Markdown to this file")
    ap.add_argument("--recording", type=Path, default=RECORDING, help="the call analysed (default: %(default)s)")
    ap.add_argument("--redis-url", default=REDIS_URL,
                    help="the Celery broker; its database is flushed (default: $QA_TEST_REDIS_URL or %(default)s)")
    args = ap.parse_args()
    lines = [f"### kill9_recovery {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({platform.node()}, {os.cpu_count()} CPUs, "
             "SQLite, lease 60 s)", ""]
    ok = True
    for case in args.cases:
        r = measure(case, Path(tempfile.mkdtemp(prefix=f"qa-kill9-{case}-")), args.recording, args.redis_url)
        once = r["results"] == 1 and r["job"] == ("done", 2) and r["runs_done"] in (1, None)
        ok &= once and r["status"] == "done" and float(r["done_s"]) < 120  # type: ignore[arg-type]
        lines.append(f"- {case}: killed mid-analysis; restart/new worker {r['restart_s']:.1f} s; taken up again "
                     f"after {r['taken_s']:.1f} s; {r['status']} after **{r['done_s']:.1f} s**; result rows "
                     f"{r['results']}, job {r['job']}"
                     + (f", task runs that finished the analysis {r['runs_done']}, deferred messages "
                        f"{r['deferred']}" if r["runs_done"] is not None else ""))
        print(lines[-1], flush=True)
    if args.out:
        with args.out.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
