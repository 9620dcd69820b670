"""kill -9 mid-analysis, with the default 60 s lease: how long until the call is taken up again and done,
and is it analysed exactly once?

Three cases, each on a fresh data dir (SQLite; Redis from QA_TEST_REDIS_URL for Celery):
- inprocess: `qa-engine serve` with its in-process workers is killed, then started again;
- celery-worker: a `qa-engine worker` (its whole process group) is killed, another one is started;
- celery-child: only the worker's pool child is killed (what the OOM killer picks); Celery
  redelivers the message at once, while the dead child's lease still runs.
Reports seconds from the kill to: taken up again (the job's second attempt), done; and the result
rows, the job record and the number of task runs that finished the analysis.

    python benchmarks/kill9_recovery.py --out benchmarks/durability_results.md
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
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.api.conftest import REDIS_URL, Server, db_rows, submit, wait_done, wait_for  # noqa: E402


def children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return kids


def start_worker(srv: Server, log: Path, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--concurrency", "1", "--name", name],
                            cwd=ROOT, env=srv.env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def until_processing(c: httpx.Client, cid: str) -> None:
    wait_for(lambda: c.get(f"/v1/calls/{cid}").json()["status"] == "processing", 300, "processing")
    time.sleep(2.0)  # mid-analysis


def measure(case: str, data_dir: Path) -> dict[str, object]:
    celery = case.startswith("celery")
    env = {"QA_BROKER_URL": REDIS_URL, "QA_START_WORKERS": "false"} if celery else {}
    if celery:
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    srv = Server(data_dir, "", **env).start()
    logs = [data_dir / "worker1.log", data_dir / "worker2.log"]
    workers = [start_worker(srv, logs[0], "k1")] if celery else []
    try:
        key = srv.cli("keys", "create", "--role", "client")
        with srv.client(key) as c:
            cid = submit(c, metadata={"external_id": case}).json()["id"]
            until_processing(c, cid)
            killed = time.time()
            if case == "inprocess":
                srv.kill9()
                srv.start()
            elif case == "celery-worker":
                os.killpg(workers[0].pid, signal.SIGKILL)
                workers[0].wait(timeout=10)
                workers.append(start_worker(srv, logs[1], "k2"))
            else:
                (child,) = children(workers[0].pid)
                os.kill(child, signal.SIGKILL)
            restarted = time.time()
            taken = wait_for(lambda: db_rows(srv, "SELECT attempts FROM jobs WHERE call_id = :id", cid)[0][0] >= 2,
                             900, "taken up again")
            status = wait_done(c, cid, timeout=900)["status"]
            done = time.time()
        text = "".join(p.read_text(errors="replace") for p in logs if p.exists())
        return {"case": case, "restart_s": restarted - killed, "taken_s": taken - killed, "done_s": done - killed,
                "status": status,
                "results": db_rows(srv, "SELECT count(*) FROM results WHERE call_id = :id", cid)[0][0],
                "job": db_rows(srv, "SELECT status, attempts FROM jobs WHERE call_id = :id", cid)[0],
                "runs_done": len(re.findall(r"succeeded in [\d.]+s: 'done'", text)) if celery else None,
                "deferred": text.count("retry: Retry in") if celery else None}
    finally:
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(w.pid, signal.SIGTERM)
            w.wait(timeout=30)
        srv.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="*", default=["inprocess", "celery-worker", "celery-child"])
    ap.add_argument("--out", type=Path, help="append the results as Markdown to this file")
    args = ap.parse_args()
    lines = [f"### kill9_recovery {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({platform.node()}, {os.cpu_count()} CPUs, "
             "SQLite, lease 60 s)", ""]
    ok = True
    for case in args.cases:
        r = measure(case, Path(tempfile.mkdtemp(prefix=f"qa-kill9-{case}-")))
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
